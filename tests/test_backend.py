"""The backend: device selection, CuPy-only names, and a run on a strict CuPy stand-in."""
import ast
import pathlib

import numpy
import pytest

import devices
import strict_xp
import tinyrrn
from tinyrrn import Tensor, backend, gradcheck
from tinyrrn import functional as F
from tinyrrn.models import resnet_small

PACKAGE = pathlib.Path(tinyrrn.__file__).parent


MODULE_CALLS = ("xp_of", "module_for", "_load_cupy")  # the calls that return an array module


def _module_call(node):
    return isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in MODULE_CALLS


def _module_holders(tree):
    """Names (and ``self.`` attributes) that hold an array module: ``xp``, and every name a module call
    is assigned to (``cupy = backend.module_for("gpu")``, ``self.xp = backend.module_for(device)``)."""
    holders = {"xp"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _module_call(node.value):
            holders.update(t.id if isinstance(t, ast.Name) else t.attr for t in node.targets
                           if isinstance(t, (ast.Name, ast.Attribute)))
    return holders


def array_module_names():
    """Every attribute chain the package reads from an array module: `xp.name`, `xp_of(a).name`,
    `self.xp.cuda.Stream`, `cupy.cuda.Device` where `cupy = backend.module_for("gpu")`, ..."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        holders = _module_holders(tree)

        def is_module(node):
            return (_module_call(node) or (isinstance(node, ast.Name) and node.id in holders)
                    or (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id == "self" and node.attr in holders))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or is_module(node):
                continue
            chain, base = [], node
            while isinstance(base, ast.Attribute) and not is_module(base):
                chain.insert(0, base.attr)
                base = base.value
            if is_module(base):
                names.add(".".join(chain))
    # keep only the longest chains (xp.lib.stride_tricks.as_strided covers xp.lib)
    return sorted(n for n in names if not any(o.startswith(n + ".") for o in names))


def test_the_package_reads_array_module_names():
    names = array_module_names()
    assert "lib.stride_tricks.as_strided" in names and "zeros" in names, names
    # the GPU-only calls: the loader's pinned buffers and copy stream, the memory figure, one GPU per rank
    assert {"cuda.alloc_pinned_memory", "cuda.Stream", "cuda.get_current_stream", "empty",
            "get_default_memory_pool", "cuda.Device", "cuda.runtime.getDeviceCount"} <= set(names), names


def test_every_array_module_name_exists_in_cupy(cupy):
    missing = []
    for name in array_module_names():
        obj = cupy
        for part in name.split("."):
            if not hasattr(obj, part):
                missing.append(name)
                break
            obj = getattr(obj, part)
    assert not missing, f"names the package reads from its array module that CuPy lacks: {missing}"


def test_default_device_is_cpu_and_gpu_without_cuda_is_a_clear_error(monkeypatch):
    assert backend.get_device() in ("cpu", "gpu")
    assert isinstance(Tensor([1.0]).data, numpy.ndarray) or backend.get_device() == "gpu"

    def no_cupy():
        raise RuntimeError("device 'gpu' needs CuPy, which is not installed: pip install 'tinyrrn[gpu]'")
    monkeypatch.setattr(backend, "_load_cupy", no_cupy)
    with pytest.raises(RuntimeError, match="needs CuPy"):
        backend.resolve_device("gpu")
    with pytest.raises(RuntimeError, match="needs CuPy"):
        Tensor([1.0]).to("gpu")
    assert backend.resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="needs CuPy"):
        backend.set_device("cuda")  # PyTorch's name of the GPU
    with pytest.raises(ValueError, match="unknown device"):
        backend.set_device("tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present: the error path cannot be shown")
def test_real_gpu_request_fails_clearly_here():
    with pytest.raises(RuntimeError, match="device 'gpu'"):
        backend.resolve_device("gpu")


def test_strict_arrays_refuse_implicit_numpy_conversion(strict_gpu):
    a = strict_xp.asarray(numpy.ones(3))
    with pytest.raises(TypeError):
        numpy.asarray(a)
    with pytest.raises(TypeError):
        a + numpy.ones(3)
    with pytest.raises(TypeError):
        numpy.ones(3) * a
    with pytest.raises(TypeError):
        numpy.exp(a)
    assert isinstance(a + 1.0, strict_xp.StrictArray)


def test_a_fused_kernel_on_the_stand_in_takes_its_numbers_as_cupys_fuse_does(strict_gpu):
    """In a kernel of cupy.fuse a number argument is a variable of the kernel: it has no Python value (an ``if`` on
    it is CuPy's TypeError), and arithmetic with another number gives a float64 variable that makes the kernel's
    float32 math float64; a NumPy number is weak there, not by its dtype. The stand-in's fuse refuses all three."""
    a, out = strict_xp.asarray(numpy.ones(3, "float32")), strict_xp.asarray(numpy.empty(3, "float32"))

    def branching(x, rate, out):
        out[...] = x * rate if rate else x

    def widening(x, rate, out):
        out[...] = (1 - rate) * x

    def scaled(x, rate, out):
        out[...] = x * rate + rate * x
    with pytest.raises(TypeError, match="Cannot convert to Python scalar in cupy.fuse"):
        strict_xp.fuse(branching)(a, 0.5, out)
    with pytest.raises(strict_xp.StrictError, match="compute it on the host"):
        strict_xp.fuse(widening)(a, 0.5, out)
    with pytest.raises(strict_xp.StrictError, match="NumPy number"):
        strict_xp.fuse(scaled)(a, numpy.float64(0.5), out)
    strict_xp.fuse(scaled)(a, 0.5, out)
    assert out.dtype == "float32" and devices.host(out).tolist() == [1.0, 1.0, 1.0]


def test_strict_arrays_take_only_the_keywords_cupys_functions_take(cupy):
    """NumPy's keywords that CuPy's functions, methods and ufuncs lack fail on a GPU only (a TypeError there): the
    stand-in refuses them, reading CuPy's own signatures."""
    a = strict_xp.asarray(numpy.arange(4.0))
    for call in (lambda: a.max(initial=0.0), lambda: a.sum(where=a > 0), lambda: a.var(correction=1),
                 lambda: strict_xp.add(a, a, where=a > 0), lambda: strict_xp.zeros(3, like=a),
                 lambda: strict_xp.clip(a, min=0, max=1)):
        with pytest.raises(strict_xp.StrictError, match="takes no keyword argument"):
            call()
    assert devices.host(a.sum(axis=0, keepdims=True, dtype="float32")).tolist() == [6.0]
    assert devices.host(strict_xp.maximum(a, 1.0, out=a)).tolist() == [1.0, 1.0, 2.0, 3.0]


def test_strict_ufunc_at_is_cupys_scatter():
    """CuPy's ufunc.at scatters with atomic operations: add, subtract, maximum and minimum, and the bitwise ones,
    each in a few dtypes (add: no int64, int8 or bool); anything else fails on a GPU only."""
    index = strict_xp.asarray(numpy.array([0, 0, 2]))
    with pytest.raises(NotImplementedError, match="multiply.at"):
        strict_xp.multiply.at(strict_xp.ones(3), index, 2.0)
    for dtype in ("int64", "int8", "bool"):
        with pytest.raises(strict_xp.StrictError, match="only"):
            strict_xp.add.at(strict_xp.zeros(3, dtype), index, 1)
    grad = strict_xp.zeros(3, "float16")
    strict_xp.add.at(grad, index, 1.0)
    assert devices.host(grad).tolist() == [2.0, 0.0, 1.0]


def test_the_strict_generator_is_its_own_as_cupys():
    """CuPy's random numbers come from a generator of its own, which numpy.random.seed leaves as it is: the stand-in's
    too, so that code seeding NumPy's alone draws other numbers every run there, as on a GPU."""
    draws = []
    for _ in range(2):
        numpy.random.seed(0)
        draws.append(devices.host(strict_xp.random.random_sample(8)))
    assert draws[0].tolist() != draws[1].tolist()
    strict_xp.random.seed(2 ** 64 - 1)  # CuPy takes 64-bit seeds
    again = devices.host(strict_xp.random.random_sample(8))
    strict_xp.random.seed(2 ** 64 - 1)
    assert devices.host(strict_xp.random.random_sample(8)).tolist() == again.tolist()


def test_strict_arrays_refuse_an_array_index_out_of_range_which_cupy_wraps_around():
    """CuPy wraps an out-of-range integer array index around in silence (cupy.arange(3)[[1, 3]] is [1, 0]) where
    NumPy raises: the stand-in refuses it, so that code relying on NumPy's IndexError fails without a GPU too."""
    a, index = strict_xp.arange(3.0), strict_xp.asarray(numpy.array([1, 3]))
    for gather in (lambda: a[index], lambda: a[:, None][[1, -4], 0], lambda: a.take(index),
                   lambda: strict_xp.take_along_axis(a, index, 0), lambda: a.__setitem__(index, 0.0),
                   lambda: strict_xp.add.at(a, index, 1.0)):
        with pytest.raises(strict_xp.StrictError, match="wraps it around"):
            gather()
    with pytest.raises(IndexError, match="out of bounds"):  # an int alone CuPy refuses too
        a[3]
    assert devices.host(a[strict_xp.asarray(numpy.array([2, -3]))]).tolist() == [2.0, 0.0]


def test_strict_argmax_refuses_a_slice_of_several_nans_of_which_cupy_returns_any():
    """CuPy's argmax and argmin (its kernels and CUB's) return whichever of several NaNs of a slice their order of
    reduction meets first, NumPy's the first: the stand-in refuses them; one NaN in a slice it answers."""
    a = strict_xp.asarray(numpy.array([[1.0, numpy.nan, numpy.nan], [numpy.nan, 0.0, 2.0]]))
    for call in (lambda: a.argmax(), lambda: a.argmin(axis=1), lambda: strict_xp.argmax(a, 1)):
        with pytest.raises(strict_xp.StrictError, match="several NaNs"):
            call()
    assert devices.host(a.argmax(0)).tolist() == [1, 0, 0] and devices.host(a[1].argmin()).tolist() == 0


def test_ops_and_gradients_run_on_the_strict_stand_in(strict_gpu, rng):
    x, w, b = (Tensor(strict_xp.asarray(rng.standard_normal(s)), requires_grad=True)
               for s in [(2, 3, 7, 6), (4, 3, 3, 3), (4,)])
    assert x.device == "gpu"
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [x, w, b])
    gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1) + F.avg_pool2d(x, 3, 2, 1), [x])
    mean, var = strict_xp.zeros(3), strict_xp.ones(3)
    gradcheck(lambda x: F.batch_norm(x, mean, var, None, None, True), [x])
    z = Tensor(strict_xp.asarray(rng.standard_normal((4, 5))), requires_grad=True)
    target = strict_xp.asarray(numpy.array([0, 1, 4, 2]))
    gradcheck(lambda z: F.cross_entropy(z, target) + F.log_softmax(z).sum(), [z])
    gradcheck(lambda z: F.tanh(z[1:, ::2]) * F.sigmoid(z[1:, ::2]) + F.exp(z[1:, ::2]) / 9, [z])
    gradcheck(lambda z: F.concatenate([z, z * 2], 0).mean(0, keepdims=True) @ F.relu(z).transpose(0, 1), [z])
    gradcheck(lambda z: z[strict_xp.asarray(numpy.array([0, 0, 3]))], [z])


def test_pytorch_arguments_integer_ops_and_the_engine_run_on_the_strict_stand_in(strict_gpu, rng):
    def device(*shape, data=None):
        return Tensor(strict_xp.asarray(rng.standard_normal(shape) if data is None else data), requires_grad=True)
    x, w = device(2, 4, 7, 6), device(6, 2, 3, 3)
    gradcheck(lambda x, w: F.conv2d(x, w, padding="same", dilation=2, groups=2), [x, w])
    gradcheck(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2),
              [x, device(4, 3, 3, 2)])
    gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True, return_indices=True)[0].sum()
              + F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).sum(), [x])
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)).sum() + F.pad(x, (1, -2, 0, 1)).sum(), [x])
    nan = device(1, 1, 2, 4, data=numpy.array([[[[1.0, numpy.nan, 3, numpy.nan], [0, 1, 2, 3]]]]))
    F.max_pool2d(nan, (1, 4)).sum().backward()
    assert nan.grad.data.get().tolist() == [[[[0, 0, 0, 1], [0, 0, 0, 1]]]]
    z, p = device(4, 5), device(4, 5, data=numpy.full((4, 5), 0.2))
    target, weight = strict_xp.asarray(numpy.array([0, -100, 4, 2])), strict_xp.asarray(numpy.arange(1.0, 6.0))
    gradcheck(lambda z, p: F.cross_entropy(z, target, weight, label_smoothing=0.1)
              + F.cross_entropy(z, p, reduction="sum") + F.softmax(z, 0).sum(), [z, p])
    gradcheck(lambda z, v: F.matmul(v, z.transpose(0, 1)) @ v[:4] + (F.exp(z[1, :, None]) ** z[:, 0]).sum()
              + (2.0 ** v).sum() + F.div(z, 3, rounding_mode="floor").sum(), [z, device(5)])
    gradcheck(lambda y: y[1, :, None, strict_xp.asarray(numpy.array([0, 0, 2]))], [device(2, 4, 5)])
    out_of_range = strict_xp.asarray(numpy.array([0, 1, 5, 2]))
    with strict_xp.recording() as log:  # out of range on a device: NaN, with no wait to check it
        losses = F.cross_entropy(z, out_of_range, reduction="none")
        shifted = z + 1  # a number is an argument of the device op, not an array copied there
    assert log == [] and numpy.isnan(losses.data.get()).tolist() == [False, False, True, False]
    numpy.testing.assert_allclose(shifted.data.get(), z.data.get() + 1)
    ints = Tensor(strict_xp.asarray(numpy.array([7, -7, 3])))
    assert (ints / 2).dtype == numpy.float32 and (ints // 2).data.get().tolist() == [3, -4, 1]
    assert (ints >= 3).data.get().tolist() == [True, False, True] and F.sum(ints > 0).item() == 2
    a, b = device(3), device(3)
    (a + b).sum().backward()
    assert a.grad.data.base is not b.grad.data.base or a.grad.data.base is None  # each leaf owns its gradient


def test_a_small_network_trains_on_the_strict_stand_in(strict_gpu, rng):
    model = resnet_small(num_classes=3, widths=(4, 4, 8, 8)).to("gpu")
    x = Tensor(rng.standard_normal((2, 3, 16, 16)).astype("float32")).to("gpu")
    target = strict_xp.asarray(numpy.array([0, 2]))
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    assert all(isinstance(p.grad.data, strict_xp.StrictArray) for p in model.parameters())
    assert numpy.isfinite(float(loss.data))
    model.eval()
    with tinyrrn.no_grad():
        assert model(x).shape == (2, 3)


def fake_cupy(fail=None):
    """A cupy module with one CUDA device whose kernel compiler or BLAS may be missing."""
    import types

    def arange(*args, **kwargs):
        if fail == "nvrtc":
            raise RuntimeError("libnvrtc.so.12: cannot open shared object file: No such file or directory")
        return numpy.arange(*args, **kwargs)

    class Ones(numpy.ndarray):
        def __matmul__(self, other):
            if fail == "cublas":
                raise ImportError("libcublas.so.12: cannot open shared object file")
            return numpy.asarray(self) @ numpy.asarray(other)

    cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
                                 Device=lambda: types.SimpleNamespace(synchronize=lambda: None))
    return types.SimpleNamespace(cuda=cuda, arange=arange,
                                 ones=lambda shape, dtype: numpy.ones(shape, dtype).view(Ones))


@pytest.mark.parametrize("fail, library", [("nvrtc", "NVRTC"), ("cublas", "cuBLAS")])
def test_a_gpu_without_the_toolkit_libraries_is_refused_with_what_to_install(monkeypatch, fail, library):
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake_cupy(fail))
    monkeypatch.setattr(backend, "_cupy_checked", False)
    monkeypatch.setattr(backend, "_load_cupy", devices.real_load_cupy)  # not the stand-in (TINYRRN_TEST_STANDIN)
    with pytest.raises(RuntimeError, match=f"{library}.*tinyrrn\\[cuda12\\]"):
        backend.resolve_device("gpu")
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake_cupy())
    assert backend.resolve_device("gpu") == "gpu"  # a working toolkit passes (and is checked once)
