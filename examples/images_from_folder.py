"""Classify images read from a folder of class folders, augmented on the fly:
the Keras tutorials' ImageDataGenerator + flow_from_directory pattern.

usage: python examples/images_from_folder.py [FOLDER]

FOLDER holds one sub-folder of images per class (JPEG, PNG, ...).  Without
one, the script draws a small data set of its own: 64x64 pictures of
circles, squares and triangles, 100 of each, the same on every run, kept in
the system's temporary folder (``shapes_folder``, which
fine_tune_convbase.py reuses).
"""
import os
import shutil
import sys
import tempfile

import numpy as np

import pynn as keras
from pynn import layers
from pynn.preprocessing.image import ImageDataGenerator

SHAPES = ("circle", "square", "triangle")
PER_CLASS = 100
SIZE = 64


def draw_shapes(folder):
    """PER_CLASS pictures of each shape, of random size, place and colours."""
    from PIL import Image, ImageDraw
    g = np.random.default_rng(0)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(folder))
    for shape in SHAPES:
        os.makedirs(os.path.join(tmp, shape))
        for i in range(PER_CLASS):
            img = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in g.integers(0, 90, 3)))
            d = ImageDraw.Draw(img)
            r = int(g.integers(12, 26))
            cx, cy = (int(v) for v in g.integers(r + 2, SIZE - r - 2, 2))
            fill = tuple(int(v) for v in g.integers(140, 256, 3))
            if shape == "circle":
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
            elif shape == "square":
                d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
            else:
                d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
            img.save(os.path.join(tmp, shape, f"{shape}_{i:03d}.png"))
    # made complete beside the final name, then moved into place
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def shapes_folder():
    folder = os.path.join(tempfile.gettempdir(), "pynn_example_shapes")
    complete = all(os.path.isdir(os.path.join(folder, s)) and
                   len(os.listdir(os.path.join(folder, s))) == PER_CLASS for s in SHAPES)
    if not complete:
        print(f"Drawing {PER_CLASS * len(SHAPES)} images of shapes into {folder}")
        draw_shapes(folder)
    return folder


def main(folder):
    keras.utils.set_random_seed(1)

    # Training images are augmented; validation images are only rescaled.  Both
    # generators hold out the same 20 % of every class folder for validation.
    train_datagen = ImageDataGenerator(rescale=1 / 255, rotation_range=20, width_shift_range=0.1,
                                       height_shift_range=0.1, zoom_range=0.1,
                                       horizontal_flip=True, validation_split=0.2)
    val_datagen = ImageDataGenerator(rescale=1 / 255, validation_split=0.2)
    train_generator = train_datagen.flow_from_directory(
        folder, target_size=(SIZE, SIZE), batch_size=32, class_mode="categorical",
        subset="training", seed=1)
    val_generator = val_datagen.flow_from_directory(
        folder, target_size=(SIZE, SIZE), batch_size=32, class_mode="categorical",
        subset="validation", shuffle=False)
    print("class_indices:", train_generator.class_indices)
    x_batch, y_batch = next(train_generator)
    print("a training batch:", x_batch.shape, x_batch.dtype, "labels", y_batch.shape,
          f"pixels in [{x_batch.min():.2f}, {x_batch.max():.2f}]")

    num_classes = train_generator.num_classes
    model = keras.Sequential([
        keras.Input(shape=(SIZE, SIZE, 3)),
        layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, activation="softmax"),
    ])
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    model.fit(train_generator, steps_per_epoch=len(train_generator), epochs=12,
              validation_data=val_generator, validation_steps=len(val_generator), verbose=2)

    loss, accuracy = model.evaluate(val_generator, verbose=0)
    print(f"Validation accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else shapes_folder())
