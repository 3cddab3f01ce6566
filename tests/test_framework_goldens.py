"""The values the frameworks publish in their own tests, reproduced by sheetopt's rules fed
the same gradients (straight through the rules: no library needed).

Keras: each ``test_correctness_with_golden`` in keras/src/optimizers/*_test.py (Keras 3.15)
starts ten weights at 1, applies a first gradient of 0.01, then checks five golden rows, each
before applying the gradients 0.1, 0.2, ..., 1.0 again; Keras compares at rtol = atol = 5e-4
(its goldens are float32 values rounded to 4 places), and so do we.

fastai: the hand-computed steps of nbs/12_optimizer.ipynb (SGD, momentum, weight decay,
RMSProp with and without momentum, Adam, RAdam, Larc and LARS), compared as its ``test_close``
does (1e-5, 1e-3 where the notebook says so). Lamb's published values, Keras's and fastai's, are
for one tensor of several weights whose norms couple them: out of reach of scalar parameters,
each its own tensor (test_lamb_goldens_are_for_whole_tensors shows the difference).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from frameworks import rule_path

ONES = np.ones(10)
KERAS_GRADS = [np.full(10, 0.01)] + [np.arange(1, 11) / 10] * 4


def tiled(column):
    return np.tile(np.array(column)[:, None], (1, 10))


KERAS_GOLDEN = {  # optimizer -> (constructor arguments, golden rows)
    "adam": ({"amsgrad": True}, tiled([0.999, 0.9982, 0.9974, 0.9965, 0.9955])),
    "sgd": ({"nesterov": True}, np.array([
        [0.9999] * 10,
        [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
        [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
        [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
        [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599]])),
    "rmsprop": ({"centered": True}, tiled([0.9967, 0.9933, 0.9908, 0.9885, 0.9864])),
    "adamw": ({"learning_rate": 1.0, "weight_decay": 0.5, "epsilon": 2.0}, np.array([
        [0.4998] * 10,
        [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
        [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
        [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
        [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113,
         -0.0159]])),
    "adagrad": ({"learning_rate": 0.2, "initial_accumulator_value": 0.3, "epsilon": 1e-6},
                np.array([
        [0.9963] * 10,
        [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
        [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
        [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
        [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825]])),
    "adamax": ({"learning_rate": 0.2, "beta_1": 0.85, "beta_2": 0.95, "epsilon": 1e-6},
               np.array([
        [0.8] * 10,
        [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
        [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
        [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
        [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126]])),
    "lion": ({}, tiled([0.999, 0.998, 0.997, 0.996, 0.995])),
    "adadelta": ({"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-6},
                 tiled([0.9978, 0.9947, 0.9915, 0.9882, 0.9849])),
    "nadam": ({"learning_rate": 0.5, "beta_1": 0.5, "beta_2": 0.67, "epsilon": 1e-5}, np.array([
        [0.4281] * 10,
        [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718,
         -0.1717],
        [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085,
         -0.7084],
        [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23,
         -1.2299],
        [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455,
         -1.7454]])),
}
# Keras's Lamb golden ([0.999, 0.9982, 0.9974, 0.9965, 0.9955]) is for ONE tensor of ten
# weights, whose norms couple them; sheetopt's parameters are each their own tensor (see
# test_lamb_goldens_are_for_whole_tensors)


@pytest.mark.parametrize("optimizer", list(KERAS_GOLDEN))
def test_keras_golden_values(optimizer):
    args, golden = KERAS_GOLDEN[optimizer]
    path = rule_path("keras", optimizer, args, ONES, KERAS_GRADS)
    np.testing.assert_allclose(path, golden, rtol=5e-4, atol=5e-4)


def test_keras_adamw_golden_is_not_torchs():
    """The issue's example: Keras's AdamW golden first step is 0.4998; torch's AdamW with the
    same arguments (lr 1, weight_decay 0.5, eps 2) gives 0.4950."""
    keras = rule_path("keras", "adamw", KERAS_GOLDEN["adamw"][0], ONES, KERAS_GRADS[:1])
    torch = rule_path("torch", "adamw", {"lr": 1.0, "weight_decay": 0.5, "eps": 2.0}, ONES,
                      KERAS_GRADS[:1])
    assert round(float(keras[0, 0]), 4) == 0.4998
    assert round(float(torch[0, 0]), 4) == 0.4950


def fastai_close(found, expected, eps=1e-5):
    np.testing.assert_allclose(found, expected, rtol=0, atol=eps)


P, G = [1.0, 2.0, 3.0], [0.1, 0.2, 0.3]  # tst_param([1,2,3], [0.1,0.2,0.3])
PARAMS = [0.0, 1.0, 2.0, 3.0]  # tst_params(): i with gradient 0.1*i
PARAMS_G = [0.0, 0.1, 0.2, 0.3]


def test_fastai_sgd_steps():
    path = rule_path("fastai", "sgd", {"lr": 0.1}, PARAMS, [PARAMS_G] * 2)
    fastai_close(path[0], [i * 0.99 for i in range(4)])
    fastai_close(path[1], [i * 0.98 for i in range(4)])
    path = rule_path("fastai", "sgd", {"lr": 0.1, "mom": 0.9}, PARAMS, [PARAMS_G] * 2)
    fastai_close(path[0], [i * 0.99 for i in range(4)])
    fastai_close(path[1], [i * (1 - 0.1 * (0.1 + 0.1 * 1.9)) for i in range(4)])
    decayed = rule_path("fastai", "sgd", {"lr": 0.1, "mom": 0.9, "wd": 0.1}, PARAMS, [PARAMS_G])
    fastai_close(decayed[0], [i * 0.98 for i in range(4)])


@pytest.mark.parametrize("mom, first_avg", [(0.0, 0.1), (0.9, 0.1 + 0.9 * 0.1)])
def test_fastai_rmsprop_steps(mom, first_avg):
    path = rule_path("fastai", "rmsprop", {"lr": 0.1, "mom": mom}, P, [G] * 2)
    fastai_close(path[0], [0.0, 1.0, 2.0])
    step = -0.1 * first_avg / (math.sqrt((0.01 * 0.99 + 0.01) * 0.1 ** 2) + 1e-8)
    fastai_close(path[1], [step, 1 + step, 2 + step])


def test_fastai_rmsprop_with_momentum_is_the_issues_example():
    """Step 2 of fastai's own RMSProp-with-momentum case moves by -1.347 (fastai) where
    torch.optim.RMSprop with the same arguments moves by -1.609."""
    fastai = rule_path("fastai", "rmsprop", {"lr": 0.1, "mom": 0.9}, P, [G] * 2)
    torch = rule_path("torch", "rmsprop", {"lr": 0.1, "momentum": 0.9, "alpha": 0.99}, P, [G] * 2)
    assert round(float(fastai[1, 0] - fastai[0, 0]), 3) == -1.347
    assert round(float(torch[1, 0] - torch[0, 0]), 3) == -1.609


def test_fastai_adam_steps():
    path = rule_path("fastai", "adam", {"lr": 0.1, "wd": 0.0}, P, [G] * 2)
    step = -0.1 * 0.1 / (math.sqrt(0.1 ** 2) + 1e-8)
    fastai_close(path[0], [1 + step, 2 + step, 3 + step])
    fastai_close(path[1], [1 + 2 * step, 2 + 2 * step, 3 + 2 * step], eps=1e-3)


LARC_P = [1.0, 2.0, 3.0]


@pytest.mark.parametrize("clip, grads, local_lr", [
    (True, [0.1, 0.2, 0.3], 0.02),  # "First param local lr is 0.02 < lr so it's not clipped"
    (True, [0.01, 0.02, 0.03], 0.1),  # "Second param local lr is 0.2 > lr so it's clipped"
    (False, [0.1, 0.2, 0.3], 0.02),  # LARS: no clipping
    (False, [0.01, 0.02, 0.03], 0.2)])
def test_fastai_larc_steps(clip, grads, local_lr):
    """The notebook's Larc cases: ||p||/||g|| is the same for the whole tensor [1, 2, 3] and
    for each of its elements, so these published steps hold for scalar parameters too."""
    path = rule_path("fastai", "larc", {"lr": 0.1, "clip": clip}, LARC_P, [grads])
    fastai_close(path[0], [p - local_lr * g for p, g in zip(LARC_P, grads)])
    published = {0.02: [0.998, 1.996, 2.994], 0.1: [0.999, 1.998, 2.997],
                 0.2: [0.998, 1.996, 2.994]}[local_lr]
    fastai_close(path[0], published)


def test_lamb_goldens_are_for_whole_tensors():
    """fastai's notebook steps Lamb on ONE tensor [1, 2, 3] to [0.784, 1.784, 2.784]: its
    trust ratio is the root mean square of the whole tensor over the step's. sheetopt's
    parameters are each their own tensor, as fastai's Lamb given three one-element tensors
    steps them (to [0.9, 1.8, 2.7]); Keras's Lamb golden is the same case with ten weights."""
    from frameworks import library_path, require
    require("fastai")
    import torch
    from fastai.optimizer import Lamb
    whole = torch.tensor(P, dtype=torch.float64, requires_grad=True)
    whole.grad = torch.tensor(G, dtype=torch.float64)
    Lamb([whole], lr=0.1).step()
    fastai_close(whole.detach().numpy(), [0.7840, 1.7840, 2.7840], eps=1e-3)  # the notebook's
    ours = rule_path("fastai", "lamb", {"lr": 0.1}, P, [G])
    np.testing.assert_allclose(ours, library_path("fastai", "lamb", {"lr": 0.1}, P, [G]),
                               rtol=1e-12)
    fastai_close(ours[0], [0.9, 1.8, 2.7])


def test_fastai_radam_steps():
    path = rule_path("fastai", "radam", {"lr": 0.1}, P, [G] * 6)
    r_inf = 2 / (1 - 0.99) - 1
    for i in range(5):  # rho_t <= 5: plain momentum steps
        assert r_inf - 2 * (i + 1) * 0.99 ** (i + 1) / (1 - 0.99 ** (i + 1)) <= 5
    p = np.array([0.95, 1.9, 2.85])
    fastai_close(path[4], p)
    r = r_inf - 2 * 6 * 0.99 ** 6 / (1 - 0.99 ** 6)
    v = math.sqrt(((r - 4) * (r - 2) * r_inf) / ((r_inf - 4) * (r_inf - 2) * r))
    step = -0.1 * 0.1 * v / (math.sqrt(0.1 ** 2) + 1e-8)
    fastai_close(path[5], p + step)
