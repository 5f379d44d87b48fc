"""Task validation, batching and task sets."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from metarl.core.tasks import describe_space, stack_tasks, tasks_to_tensors, unstack_tasks, validate_task

SPACE = spaces.Dict(
    {
        "velocity": spaces.Box(0.0, 3.0, (), np.float32),
        "goal": spaces.Box(-1.0, 1.0, (2,), np.float32),
        "cell": spaces.MultiDiscrete([5, 5]),
    }
)
GOOD = {"velocity": 1.5, "goal": [0.1, -0.2], "cell": [2, 3]}


def test_valid_task_becomes_numpy_in_space_dtypes():
    task = validate_task(GOOD, SPACE)
    assert task["velocity"].dtype == np.float32 and task["velocity"].shape == ()
    assert task["goal"].dtype == np.float32 and task["cell"].dtype == np.int64
    np.testing.assert_array_equal(task["cell"], [2, 3])


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"velocity": 3.5}, ["'velocity'", "3.5", "[0, 3]"]),
        ({"velocity": float("nan")}, ["'velocity'", "not finite"]),
        ({"goal": [0.1, 0.2, 0.3]}, ["'goal'", "shape (3,)", "(2,)"]),
        ({"goal": [2.0, 0.0]}, ["'goal'", "[-1, 1]^2"]),
        ({"cell": [2, 5]}, ["'cell'", "{0..4}^2"]),
        ({"cell": [1.5, 2]}, ["'cell'", "not an integer"]),
    ],
)
def test_invalid_parameter_names_parameter_value_and_range(change, fragments):
    with pytest.raises(ValueError) as err:
        validate_task({**GOOD, **change}, SPACE)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_unknown_and_missing_parameters_are_named():
    with pytest.raises(ValueError, match=r"unknown \['speed'\], missing \['velocity'\]"):
        validate_task({"speed": 1.0, "goal": [0, 0], "cell": [2, 2]}, SPACE)


def test_stack_unstack_round_trip_and_tensors():
    tasks = [validate_task({**GOOD, "velocity": v}, SPACE) for v in (0.5, 1.0, 2.0)]
    batch = stack_tasks(tasks)
    assert batch["goal"].shape == (3, 2) and batch["velocity"].shape == (3,)
    back = unstack_tasks(batch)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(tasks, back) for k in a)
    tensors = tasks_to_tensors(tasks)
    assert tensors["velocity"].dtype == torch.float32 and tensors["cell"].dtype == torch.int64
    assert unstack_tasks(tensors)[2]["velocity"] == pytest.approx(2.0)


def test_describe_space():
    assert describe_space(SPACE["velocity"]) == "[0, 3]"
    assert describe_space(spaces.Box(-np.inf, np.inf, (5,))) == "[-inf, inf]^5"
    assert describe_space(spaces.Discrete(3, start=-1)) == "{-1..1}"
