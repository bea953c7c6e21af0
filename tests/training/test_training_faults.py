"""Data that does not fit the model ends in one KdistillError line naming the problem and the fix.

Each case went through ``kdistill.fit`` / ``distill`` / ``train`` as a raw traceback (IndexError, RuntimeError,
StopIteration, KeyError) or, for NaN in the validation data, passed silently.
"""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import kdistill
from kdistill.errors import ConfigError, DataError, KdistillError, NonFiniteLossError, ShapeError
from kdistill.strategies import build_strategy
from kdistill.training import TrainConfig, train

FEATURES, CLASSES = 16, 10


def mlp(inputs=FEATURES, classes=CLASSES):
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, classes))


def data(rows=64, inputs=FEATURES):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(rows, inputs, generator=generator), torch.randint(0, CLASSES, (rows,), generator=generator)


def loader(x, y, batch_size=16, **kwargs):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, **kwargs)


def fit(train_data, val_data=None, model=None, **options):
    return kdistill.fit(model or mlp(), train_data, val_data, verbose=False, **{"epochs": 1, **options})


# --- labels and inputs that do not fit the model ---------------------------------------------------------------

def test_labels_beyond_the_class_count_name_the_range_and_the_count():
    x, y = data()
    with pytest.raises(ShapeError, match=r"labels range from 5 to 14 but the model outputs 10 classes.*"
                                         r"num_classes=15"):
        fit(loader(x, y + 5))


def test_negative_labels_are_named():
    x, y = data()
    with pytest.raises(ShapeError, match=r"labels range from -3 to .*remap the labels to 0\.\.9"):
        fit(loader(x, y - 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_labels_of_the_wrong_dtype_say_convert_with_long(dtype):
    x, y = data()
    with pytest.raises(ShapeError, match=rf"labels are {str(dtype)[6:]}.*labels\.long\(\)"):
        fit(loader(x, y.to(dtype)))


def test_labels_of_the_wrong_length_name_both_shapes():
    x, y = data()
    with pytest.raises(ShapeError, match=r"labels of shape \(8,\) for model outputs of shape \(16, 10\)"):
        fit([(x[:16], y[:8])])


def test_inputs_the_model_cannot_take_name_their_shape_and_the_model():
    x, y = data(inputs=20)
    with pytest.raises(ShapeError, match=r"model Sequential cannot take the batch's inputs \(16, 20\) float32: "
                                         r"mat1 and mat2 shapes cannot be multiplied") as error:
        fit(loader(x, y))
    assert isinstance(error.value.__cause__, RuntimeError)  # the original stays attached for --debug


def test_a_teacher_that_cannot_take_the_inputs_is_named():
    x, y = data()
    with pytest.raises(ShapeError, match=r"teacher FrozenTeacher cannot take the batch's inputs \(16, 16\)"):
        kdistill.distill(mlp(inputs=20), mlp(), loader(x, y), epochs=1, verbose=False)


class Broken(nn.Module):
    """A model whose forward has a bug unrelated to the data."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(FEATURES, CLASSES)

    def forward(self, x):
        raise RuntimeError("internal failure in forward")


class BrokenStrategy(nn.Module):
    def forward(self, batch, student):
        raise RuntimeError("internal failure in the strategy")


def test_unrelated_runtime_errors_are_not_reworded():
    x, y = data()
    with pytest.raises(RuntimeError, match="internal failure in forward") as error:
        fit(loader(x, y), model=Broken())
    assert not isinstance(error.value, KdistillError)
    with pytest.raises(RuntimeError, match="internal failure in the strategy"):
        train(mlp(), BrokenStrategy(), loader(x, y), None, TrainConfig(epochs=1), progress=False)


class PythonBug(Broken):
    def forward(self, x):
        layers = []
        return layers[0](x)  # a bug, not the data: IndexError "list index out of range"


@pytest.mark.parametrize("make_inputs, expected", [
    (lambda: torch.randn(16, 1, 4, 4), "cannot take the batch's inputs \\(16, 1, 4, 4\\)"),  # 4D into Linear(16)
    (lambda: torch.randn(16, FEATURES).double(), "float64"),  # dtype mismatch
])
def test_other_input_mismatches_are_shape_errors(make_inputs, expected):
    x, (_, y) = make_inputs(), data()
    with pytest.raises(ShapeError, match=expected):
        fit([(x, y[:16])], model=nn.Linear(FEATURES, CLASSES))


def test_a_python_bug_in_forward_keeps_its_own_error():
    x, y = data()
    with pytest.raises(IndexError, match="list index out of range"):
        fit(loader(x, y), model=PythonBug())


# --- loaders that cannot be trained on -------------------------------------------------------------------------

def test_an_empty_loader_is_a_data_error_for_fit_and_distill():
    x, y = data(rows=0)
    with pytest.raises(DataError, match="train_data has no batches"):
        fit(loader(x, y))
    with pytest.raises(DataError, match="train_data has no batches"):  # was StopIteration from next(iter(...))
        kdistill.distill(mlp(), mlp(), loader(x, y), epochs=1, verbose=False)


def test_a_loader_smaller_than_one_batch_with_drop_last_names_drop_last():
    x, y = data(rows=10)
    with pytest.raises(DataError, match="smaller than the batch size with drop_last=True"):
        fit(loader(x, y, drop_last=True))  # was KeyError: 'train_loss'


def test_a_generator_is_refused_before_it_is_consumed():
    x, y = data()
    batches = ((x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16))
    with pytest.raises(ConfigError, match="one-shot iterator"):
        kdistill.distill(mlp(), mlp(), batches, epochs=1, verbose=False)
    assert len(list(batches)) == 4


class NoLength:
    """Re-iterable but without len(): the schedule cannot know the steps per epoch."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_an_iterable_without_len_says_what_to_pass():
    x, y = data()
    with pytest.raises(ConfigError, match=r"has no len\(\).*list of batches"):
        fit(NoLength([(x, y)]))


class LyingLength(NoLength):
    def __len__(self):
        return 3


def test_a_loader_that_yields_nothing_despite_its_len_is_a_data_error():
    with pytest.raises(DataError, match=r"yielded no batches in epoch 1 although its len\(\) is 3"):
        fit(LyingLength([]))


def test_empty_or_one_shot_validation_data_is_refused_before_training():
    x, y = data()
    with pytest.raises(DataError, match="val_data has no batches.*val_data=None"):
        fit(loader(x, y), loader(x[:0], y[:0]))
    with pytest.raises(ConfigError, match="val_data is a one-shot iterator"):
        fit(loader(x, y), iter(loader(x, y)), epochs=2)


# --- NaN and inf ----------------------------------------------------------------------------------------------

def test_nan_in_the_input_batch_blames_the_data_not_the_learning_rate():
    x, y = data()
    x[3, 5] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"input batch contains NaN/inf \(inputs: 1 NaN of 256 values\)"
                                                 r".*check the data") as error:
        fit(loader(x, y))
    assert "lower the learning rate" not in str(error.value)


class NaNAtStep(nn.Module):
    """Supervised training whose loss turns NaN at one step, on finite inputs (divergence)."""

    def __init__(self, bad_step):
        super().__init__()
        self.inner, self.calls, self.bad_step = build_strategy("supervised"), 0, bad_step

    def forward(self, batch, student):
        self.calls += 1
        step = self.inner(batch, student)
        if self.calls == self.bad_step:
            step["loss"] = step["ce"] = step["loss"] * float("nan")
        return step


def test_nan_loss_on_finite_inputs_keeps_the_learning_rate_advice_and_names_the_term():
    x, y = data()
    with pytest.raises(NonFiniteLossError, match=r"epoch 1 step 2 \(non-finite terms: ce\).*lower the learning "
                                                 r"rate or set grad_clip"):
        train(mlp(), NaNAtStep(2), loader(x, y), None, TrainConfig(epochs=1), progress=False)


def test_weights_that_are_nan_before_training_are_named():
    x, y = data()
    model = mlp()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="weights hold NaN/inf before any training step"):
        fit(loader(x, y), model=model)


def test_nan_only_in_the_validation_data_is_an_error():
    x, y = data()
    val_x = x.clone()
    val_x[20, 0] = float("inf")
    with pytest.raises(DataError, match=r"validation: batch 2: the input batch contains NaN/inf \(inputs: 1 inf"):
        fit(loader(x, y), loader(val_x, y))


class NaNOutput(nn.Module):
    """Finite inputs, NaN outputs in eval mode: weights that stopped being finite after the last step."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(FEATURES, CLASSES)

    def forward(self, x):
        out = self.linear(x)
        return out if self.training else out * float("nan")


def test_nan_validation_outputs_on_finite_inputs_blame_the_weights():
    x, y = data()
    with pytest.raises(KdistillError, match="outputs are NaN/inf on finite inputs.*lower the learning rate"):
        fit(loader(x, y), loader(x, y), model=NaNOutput())


def test_labels_beyond_the_class_count_in_validation_are_named():
    x, y = data()
    with pytest.raises(ShapeError, match="validation: batch 1: labels range from 5 to 14"):
        fit(loader(x, y), loader(x, y + 5))

