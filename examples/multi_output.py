"""One input, three outputs: from the words of a person's posts, predict
their age (regression), their income group (one of ten classes) and their
gender (binary), as in the functional-API chapter of "Deep Learning with
Python".  The losses differ per output and are weighted so that none
dominates (loss dict with loss_weights).

The data is a clearly labelled synthetic stand-in: each person's posts are
a bag of 60 words drawn from a 1,000-word vocabulary, some of them from
word groups that depend on the person's age decade, income group and
gender, the rest at random.  Ages are standardized (mean 0, standard
deviation 1) for the regression and reported in years.
"""
import numpy as np

import pynn as keras
from pynn import layers

vocabulary_size = 1000
num_income_groups = 10
words_per_person = 60


def synthetic_people(n, seed):
    g = np.random.default_rng(seed)
    age = g.uniform(18, 78, n)
    income = g.integers(0, num_income_groups, n)
    gender = g.integers(0, 2, n)
    posts = np.zeros((n, vocabulary_size), np.float32)
    decade = ((age - 18) // 10).astype(int)  # 0..5
    for i in range(n):
        source = g.random(words_per_person)
        words = g.integers(0, vocabulary_size, words_per_person)  # noise
        topical = source < 0.45
        words[topical & (source < 0.15)] = g.integers(0, 100, np.sum(topical & (source < 0.15))) \
            + 100 * gender[i]
        mid = topical & (source >= 0.15) & (source < 0.30)
        words[mid] = 200 + 50 * decade[i] + g.integers(0, 50, np.sum(mid))
        high = topical & (source >= 0.30)
        words[high] = 500 + 50 * income[i] + g.integers(0, 50, np.sum(high))
        posts[i, words] = 1.0
    return posts, age.astype(np.float32), income, gender.astype(np.float32)


posts, age, income, gender = synthetic_people(6000, seed=0)
train, test = slice(0, 5000), slice(5000, None)
age_mean, age_std = age[train].mean(), age[train].std()
age_std_units = (age - age_mean) / age_std
income_onehot = keras.utils.to_categorical(income, num_income_groups)

keras.utils.set_random_seed(1)
posts_input = keras.Input(shape=(vocabulary_size,), name="posts")
x = layers.Dense(128, activation="relu")(posts_input)
x = layers.Dropout(0.3)(x)
x = layers.Dense(64, activation="relu")(x)
age_prediction = layers.Dense(1, name="age")(x)
income_prediction = layers.Dense(num_income_groups, activation="softmax", name="income")(x)
gender_prediction = layers.Dense(1, activation="sigmoid", name="gender")(x)

model = keras.Model(posts_input, [age_prediction, income_prediction, gender_prediction])
model.summary()
model.compile(optimizer="rmsprop",
              loss={"age": "mse", "income": "categorical_crossentropy",
                    "gender": "binary_crossentropy"},
              loss_weights={"age": 0.25, "income": 1.0, "gender": 10.0},
              metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]})
model.fit(posts[train], {"age": age_std_units[train], "income": income_onehot[train],
                         "gender": gender[train]},
          epochs=8, batch_size=64, validation_split=0.1, verbose=2)

results = model.evaluate(posts[test], {"age": age_std_units[test],
                                       "income": income_onehot[test],
                                       "gender": gender[test]}, verbose=0, return_dict=True)
print(f"Age MAE: {results['age_mae'] * age_std:.2f} years")
print(f"Income accuracy: {results['income_accuracy']:.4f}")
print(f"Gender accuracy: {results['gender_accuracy']:.4f}")
x_test = posts[test]
