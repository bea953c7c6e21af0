import os
import pickle

import numpy as np
import pytest

from kdistill.data.unpickle import load_numpy_pickle
from kdistill.errors import DataError


class _Exploit:
    """Pickles into a call of os.system; only ever dumped here, never loaded with plain pickle."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_refuses_os_system(protocol):
    payload = pickle.dumps(_Exploit(), protocol=protocol)
    with pytest.raises(DataError, match="refusing to unpickle global .*system"):
        load_numpy_pickle(payload)


def test_refuses_builtins_eval():
    payload = pickle.dumps(eval, protocol=2)
    with pytest.raises(DataError, match="refusing to unpickle global .*eval"):
        load_numpy_pickle(payload)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_accepts_numpy_arrays(protocol):
    arrays = ((np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2, 3], dtype=np.int64)),)
    loaded = load_numpy_pickle(pickle.dumps(arrays, protocol=protocol))
    np.testing.assert_array_equal(loaded[0][0], arrays[0][0])
    np.testing.assert_array_equal(loaded[0][1], arrays[0][1])
    assert loaded[0][0].dtype == np.float32
