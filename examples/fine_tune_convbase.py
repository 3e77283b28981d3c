"""Transfer learning with a pretrained convolutional base, in two steps:

1. Feature extraction: MobileNetV2 without its classifier, frozen
   (``conv_base.trainable = False``), under a new head trained with ``fit``
   on a folder of images read by flow_from_directory.
2. Fine-tuning: the top block of the base unfrozen, the model recompiled
   with a low learning rate, and trained again.

usage: python examples/fine_tune_convbase.py [FOLDER]

FOLDER holds one sub-folder of images per class; without one, the script
uses the drawn shapes of images_from_folder.py.  The base loads Keras's
ImageNet weights when they are in the cache or can be downloaded; otherwise
it starts from random weights (the steps run the same, the accuracy stays
near chance) and says so.
"""
import os
import sys

import pynn as keras
from pynn import layers
from pynn.applications import MobileNetV2, mobilenet_v2
from pynn.preprocessing.image import ImageDataGenerator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from images_from_folder import shapes_folder  # noqa: E402

SIZE = 96      # the smallest input with its own ImageNet weights
ALPHA = 0.35   # the narrowest MobileNetV2: quick on a laptop CPU
# The top block: block_16 and the last 1x1 convolution.
TOP_BLOCK = "block_16_expand"


def conv_base():
    kw = dict(input_shape=(SIZE, SIZE, 3), alpha=ALPHA, include_top=False)
    try:
        return MobileNetV2(weights="imagenet", **kw)
    except RuntimeError as e:
        print(f"ImageNet weights not available ({e})\nStarting from random weights instead: "
              f"the steps run the same, but an untrained base's features say little about "
              f"the images, so expect accuracy near chance.")
        return MobileNetV2(weights=None, **kw)


def main(folder, epochs=(3, 2), steps=None):
    """``epochs``: of feature extraction and of fine-tuning; ``steps``:
    batches per epoch (None: the whole folder)."""
    keras.utils.set_random_seed(1)
    datagen = dict(preprocessing_function=mobilenet_v2.preprocess_input, validation_split=0.2)
    train = ImageDataGenerator(rotation_range=10, horizontal_flip=True, **datagen)
    train_generator = train.flow_from_directory(
        folder, target_size=(SIZE, SIZE), batch_size=16, subset="training", seed=1)
    val_generator = ImageDataGenerator(**datagen).flow_from_directory(
        folder, target_size=(SIZE, SIZE), batch_size=16, subset="validation", shuffle=False)
    steps = steps or len(train_generator)
    val_steps = min(steps, len(val_generator))

    base = conv_base()
    base.trainable = False
    inputs = keras.Input(shape=(SIZE, SIZE, 3))
    # training=False: the base computes as at inference (batch normalization
    # on its ImageNet statistics) even after it is unfrozen below
    x = base(inputs, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(train_generator.num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    print(f"Step 1, feature extraction: {len(model.trainable_weights)} trainable weights "
          f"(the head's), {base.count_params():,} frozen parameters in the base")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train_generator, steps_per_epoch=steps, epochs=epochs[0],
              validation_data=val_generator, validation_steps=val_steps, verbose=2)

    base.trainable = True
    top = [layer.name for layer in base.layers].index(TOP_BLOCK)
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= top
    print(f"Step 2, fine-tuning from {TOP_BLOCK}: {len(model.trainable_weights)} trainable "
          f"weights")
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train_generator, steps_per_epoch=steps, epochs=epochs[1],
              validation_data=val_generator, validation_steps=val_steps, verbose=2)
    loss, accuracy = model.evaluate(val_generator, steps=val_steps, verbose=0)
    print(f"Validation accuracy: {accuracy:.4f}")
    return model


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else shapes_folder())
