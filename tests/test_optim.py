"""The optimisers' in-place updates: cut into blocks over the threads, they give the unblocked result."""
import re
import warnings

import numpy
import pytest

import strict_xp
import tinyrrn
from devices import host, on_device
from tinyrrn import Tensor, nn, optim, threads
from tinyrrn.functional import channels_last

SETTINGS = {"adam": dict(lr=0.01, weight_decay=0.01), "sgd": dict(lr=0.1, momentum=0.9, weight_decay=0.01),
            "sgd without momentum": dict(lr=0.1, momentum=0.0)}


def make(name, params):
    return (optim.Adam if name == "adam" else optim.SGD)(params, **SETTINGS[name])


def train(name, start, grads):
    """Parameters after one step per gradient (grads: list of lists, one array per parameter)."""
    params = [Tensor(s.copy(order="K"), requires_grad=True) for s in start]
    optimiser = make(name, params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = Tensor(g)
        optimiser.step()
    return [p.data for p in params], optimiser


def shapes_and_data(rng, dtype):
    """A conv weight in channels-last memory (its gradient in NCHW memory), a bias, an fc weight."""
    start = [channels_last(rng.standard_normal((16, 8, 3, 3)).astype(dtype)),
             rng.standard_normal(16).astype(dtype), rng.standard_normal((300, 70)).astype(dtype)]
    grads = [[rng.standard_normal(s.shape).astype(dtype) for s in start] for _ in range(4)]
    return start, grads


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SETTINGS)
def test_blocked_threaded_updates_equal_the_whole_array_update(monkeypatch, rng, name, dtype):
    start, grads = shapes_and_data(rng, dtype)
    threads.set_threads(1)
    monkeypatch.setattr(threads, "UPDATE_BLOCK_ELEMENTS", 10 ** 9)
    whole, _ = train(name, start, grads)
    threads.set_threads(2)
    monkeypatch.setattr(threads, "UPDATE_BLOCK_ELEMENTS", 100)  # many blocks, on two threads
    blocked, optimiser = train(name, start, grads)
    for a, b in zip(blocked, whole):
        numpy.testing.assert_array_equal(a, b)  # element-wise: the same arithmetic, bit for bit
    assert blocked[0].strides == start[0].strides  # the parameter keeps its memory layout


@pytest.mark.parametrize("name", SETTINGS)
def test_blocked_updates_match_torch(monkeypatch, rng, name, torch):
    monkeypatch.setattr(threads, "UPDATE_BLOCK_ELEMENTS", 100)
    start, grads = shapes_and_data(rng, "float32")
    ours, _ = train(name, start, grads)
    theirs = [torch.tensor(numpy.ascontiguousarray(s), requires_grad=True) for s in start]
    settings = SETTINGS[name]
    optimiser = (torch.optim.Adam(theirs, **settings) if name == "adam" else torch.optim.SGD(theirs, **settings))
    for step_grads in grads:
        for p, g in zip(theirs, step_grads):
            p.grad = torch.tensor(g)
        optimiser.step()
    for a, b in zip(ours, theirs):
        numpy.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", SETTINGS)
def test_on_device_arrays_each_parameter_is_updated_whole(monkeypatch, rng, name):
    monkeypatch.setattr(threads, "UPDATE_BLOCK_ELEMENTS", 100)
    start, grads = shapes_and_data(rng, "float64")
    expected, _ = train(name, start, grads)
    device_start = [strict_xp.asarray(s) for s in start]
    device_grads = [[strict_xp.asarray(g) for g in step] for step in grads]
    params = [Tensor(s, requires_grad=True) for s in device_start]
    optimiser = make(name, params)
    for step_grads in device_grads:
        for p, g in zip(params, step_grads):
            p.grad = Tensor(g)
        optimiser.step()
    for p, e in zip(params, expected):
        assert isinstance(p.data, strict_xp.StrictArray)
        numpy.testing.assert_allclose(p.data.get(), e, rtol=1e-12)


@pytest.mark.parametrize("name", SETTINGS)
def test_a_parameter_without_a_gradient_at_some_steps_matches_torch(rng, name, torch):
    """Each parameter counts its own steps (Adam's bias correction), as PyTorch; a gradient assigned as
    a Tensor counts by its values."""
    start = [rng.standard_normal(5).astype("float32") for _ in range(2)]
    grads = [[rng.standard_normal(5).astype("float32") if (step or i == 0) else None for i in range(2)]
             for step in range(4)]  # the second parameter has no gradient at the first step
    ours = [Tensor(s.copy(), requires_grad=True) for s in start]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in start]
    mine, reference = make(name, ours), (torch.optim.Adam if name == "adam" else torch.optim.SGD)(theirs, **SETTINGS[name])
    for step_grads in grads:
        for p, q, g in zip(ours, theirs, step_grads):
            p.grad = None if g is None else Tensor(g)
            q.grad = None if g is None else torch.tensor(g)
        mine.step()
        reference.step()
    for p, q in zip(ours, theirs):
        numpy.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-6)
    again = make(name, [Tensor(s.copy(), requires_grad=True) for s in start])
    again.load_state_dict(mine.state_dict())
    assert again.param_steps == mine.param_steps


@pytest.mark.parametrize("make_optimiser, error, message", [
    (lambda p: optim.Adam([p], lr=-0.1), ValueError, "Invalid learning rate"),
    (lambda p: optim.Adam([p], betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0"),
    (lambda p: optim.Adam([p], eps=-1.0), ValueError, "Invalid epsilon"),
    (lambda p: optim.SGD([p], momentum=-0.5), ValueError, "Invalid momentum"),
    (lambda p: optim.SGD([p], weight_decay=-1.0), ValueError, "Invalid weight_decay"),
    (lambda p: optim.SGD([]), ValueError, "empty parameter list"),
    (lambda p: optim.SGD(p), TypeError, "iterable of Tensors"),  # PyTorch's types for these
    (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}]), ValueError, "more than one parameter group"),
    (lambda p: optim.SGD([{"params": {p}}]), TypeError, "ordered collections"),
    (lambda p: optim.SGD([p]).add_param_group([p]), TypeError, "must be a dict"),
])
def test_optimisers_refuse_what_torch_refuses(make_optimiser, error, message):
    with pytest.raises(error, match=message):
        make_optimiser(Tensor(numpy.ones(2, "float32"), requires_grad=True))


def test_sgd_has_torchs_defaults():
    sgd = optim.SGD([Tensor(numpy.ones(2, "float32"), requires_grad=True)])
    assert (sgd.lr, sgd.momentum, sgd.weight_decay) == (1e-3, 0.0, 0.0)


# -- PyTorch's arguments (operator probe 4) ----------------------------------------------------------------
def _param():
    return Tensor(numpy.zeros(2, "float32"), requires_grad=True)


@pytest.mark.parametrize("make", [
    lambda: optim.Adam([_param()], amsgrad=False, maximize=False, foreach=None, capturable=False,
                       differentiable=False, fused=None),
    lambda: optim.SGD([_param()], lr=0.1, momentum=0.9, dampening=0, nesterov=False, maximize=False, foreach=None),
])
def test_optimizers_take_torchs_defaults(make):
    make().zero_grad(set_to_none=True)


@pytest.mark.parametrize("make", [lambda: optim.SGD([_param()], lr=0.1, differentiable=True),
                                  lambda: optim.Adam([_param()], capturable=True)])
def test_unsupported_optimizer_features_are_named(make):
    with pytest.raises(NotImplementedError, match="not supported by tinyrrn"):
        make()


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD"])
@pytest.mark.parametrize("option, says", [({"foreach": True}, "`fused` and `foreach` cannot be `True` together"),
                                          ({"differentiable": True}, "`fused` does not support `differentiable`")])
def test_fused_with_foreach_or_differentiable_is_torchs_runtime_error(torch, name, option, says):
    for library, param in ((torch.optim, torch.nn.Parameter(torch.ones(2))), (optim, _param())):
        with pytest.raises(RuntimeError, match=says):
            getattr(library, name)([param], lr=0.1, fused=True, **option)


def test_adam_refuses_one_beta_when_made():
    with pytest.raises(IndexError):  # as PyTorch
        optim.Adam([_param()], betas=(0.9,))


def test_adam_takes_three_betas_as_torch_and_refuses_them_at_its_step(torch):
    theirs = torch.nn.Parameter(torch.ones(2))
    reference = torch.optim.Adam([theirs], betas=(0.9, 0.99, 0.5))  # PyTorch takes them ...
    theirs.grad = torch.ones(2)
    with pytest.raises(ValueError):
        reference.step()  # ... and its step refuses them
    p = _param()
    adam = optim.Adam([p], betas=(0.9, 0.99, 0.5))
    p.grad = Tensor(numpy.ones(2, "float32"))
    with pytest.raises(ValueError, match="betas must be a pair"):
        adam.step()


@pytest.mark.parametrize("lr", [None, "0.1", [0.1]], ids=["None", "str", "list"])
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_a_learning_rate_that_is_no_number_is_a_type_error_as_torch(torch, name, lr):
    with pytest.raises(TypeError):
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))], lr=lr)
    with pytest.raises(TypeError, match="Invalid learning rate"):
        getattr(optim, name)([_param()], lr=lr)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_a_tensor_learning_rate_steps_as_torch_and_is_read_at_each_step(torch, name):
    """PyTorch takes a one-element tensor as lr; a change made to it in place counts from the next step."""
    start, grad = numpy.array([1.0, -2.0]), numpy.array([0.5, 0.25])
    theirs = torch.tensor(start.copy(), requires_grad=True)
    their_lr = torch.tensor(0.1, dtype=torch.float64)
    reference = (torch.optim.Adam if name == "adam" else torch.optim.SGD)([theirs], lr=their_lr)
    p, our_lr = Tensor(start.copy(), requires_grad=True), Tensor(numpy.array(0.1))
    mine = optim.OPTIMIZERS[name]([p], lr=our_lr)
    for step in range(3):
        theirs.grad, p.grad = torch.tensor(grad), Tensor(grad.copy())
        reference.step(), mine.step()
        their_lr.mul_(0.5)
        our_lr.data *= 0.5
    numpy.testing.assert_allclose(p.data, theirs.detach().numpy(), rtol=1e-12)
    assert mine.state_dict()["lr"] == pytest.approx(0.0125)


def test_a_tensor_learning_rate_of_two_elements_is_refused_as_torch(torch):
    with pytest.raises(ValueError, match="1-element"):
        torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=torch.ones(2))
    with pytest.raises(ValueError, match="1-element"):
        optim.SGD([_param()], lr=Tensor(numpy.ones(2)))


@pytest.mark.parametrize("settings", [dict(lr=0.1, momentum=0.9, dampening=0.3),
                                      dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)])
def test_sgd_dampening_matches_torch(torch, settings):
    """The first step takes the whole gradient, later ones (1 - dampening) of it; a parameter whose buffer
    starts later (no gradient at first) starts undamped too."""
    rng = numpy.random.default_rng(0)
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = [Tensor(s.copy(), requires_grad=True) for s in start]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in start]
    ours_sgd, their_sgd = optim.SGD(ours, **settings), torch.optim.SGD(theirs, **settings)
    for step in range(4):
        for i, (o, t) in enumerate(zip(ours, theirs)):
            g = rng.standard_normal(o.shape) if i == 0 or step >= 2 else None
            o.grad, t.grad = (None, None) if g is None else (Tensor(g), torch.tensor(g))
        ours_sgd.step()
        their_sgd.step()
    for o, t in zip(ours, theirs):
        numpy.testing.assert_allclose(o.data, t.detach().numpy(), rtol=1e-12)


def test_zero_grad_set_to_none_false_zeroes_in_place():
    p = _param()
    p.grad = Tensor(numpy.ones(2, "float32"))
    held, array = p.grad, p.grad.data
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad is held and held.data is array and not array.any()


def test_step_takes_a_closure_and_adam_torchs_decoupled_default(torch):
    p = nn.Parameter(numpy.ones(2, "float32"))
    opt = optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 2.0 and p.detach().numpy().tolist() == [0.0, 0.0]
    assert opt.step(closure=None) is None
    tp = torch.nn.Parameter(torch.ones(2))
    topt = torch.optim.SGD([tp], lr=0.5)

    def tclosure():
        topt.zero_grad()
        loss = (tp * tp).sum()
        loss.backward()
        return loss

    assert float(topt.step(tclosure)) == 2.0 and tp.detach().numpy().tolist() == [0.0, 0.0]
    optim.Adam([p], decoupled_weight_decay=False)


def _stepped(library, dtype):
    """An Adam that took one step on a 2-element parameter of ``dtype``."""
    if library.__name__ == "torch":
        params = [library.zeros(2, dtype=getattr(library, dtype), requires_grad=True)]
        params[0].grad = library.ones(2, dtype=params[0].dtype) / 3
        optimizer = library.optim.Adam(params)
    else:
        params = [Tensor(numpy.zeros(2, dtype), requires_grad=True)]
        params[0].grad = Tensor(numpy.ones(2, dtype) / 3)
        optimizer = optim.Adam(params)
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("saved, model", [("float64", "float32"), ("float32", "float16"), ("float32", "float64")])
def test_loaded_state_is_cast_to_each_parameters_dtype_as_torch(torch, saved, model):
    theirs = _stepped(torch, model)
    theirs.load_state_dict(_stepped(torch, saved).state_dict())
    assert theirs.state[theirs.param_groups[0]["params"][0]]["exp_avg"].dtype == getattr(torch, model)
    ours = _stepped(tinyrrn, model)
    ours.load_state_dict(_stepped(tinyrrn, saved).state_dict())
    assert {ours.state[ours.params[0]][k].dtype for k in ("exp_avg", "exp_avg_sq")} == {numpy.dtype(model)}
    ours.step()
    assert ours.params[0].dtype == model


def test_loaded_state_of_the_same_dtype_is_shared_as_torch():
    source, target = _stepped(tinyrrn, "float32"), _stepped(tinyrrn, "float32")
    state = source.state_dict()
    target.load_state_dict(state)
    assert target.state[target.params[0]]["exp_avg"].data is state["buffers"]["0"]["exp_avg"]


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_a_torch_optimizer_state_is_refused_saying_the_formats_differ(torch, name):
    theirs = (torch.optim.Adam if name == "adam" else torch.optim.SGD)([torch.zeros(2, requires_grad=True)], lr=0.1)
    ours = make(name, [Tensor(numpy.zeros(2, "float32"), requires_grad=True)])
    with pytest.raises(ValueError, match=r"expected tinyrrn's optimiser state with keys steps, lr, buffers .*"
                                         r"got \['param_groups', 'state'\]: a PyTorch optimizer's state_dict"):
        ours.load_state_dict(theirs.state_dict())
    with pytest.raises(ValueError, match=r"expected tinyrrn's optimiser state .*got list"):
        ours.load_state_dict([])


@pytest.mark.cpu_only("compares host arrays with torch")
@pytest.mark.parametrize("settings", [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, dampening=0.5)])
def test_sgd_without_weight_decay_keeps_an_infinite_parameter_infinite_as_torch(torch, settings):
    """torch adds weight_decay * p only when weight_decay is not 0; 0 * inf would turn an overflowed (or
    inf-gradient) parameter into NaN, silently."""
    start = numpy.array([numpy.inf, -numpy.inf, 1.0])
    ours, theirs = Tensor(start.copy(), requires_grad=True), torch.tensor(start.copy(), requires_grad=True)
    ours_sgd, their_sgd = optim.SGD([ours], **settings), torch.optim.SGD([theirs], **settings)
    for _ in range(2):
        ours.grad, theirs.grad = Tensor(numpy.ones(3)), torch.ones(3, dtype=torch.float64)
        ours_sgd.step()
        their_sgd.step()
    numpy.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name, settings, match", [
    ("AdamW", {"capturable": True}, "^AdamW: capturable=True"), ("AdamW", {"differentiable": True}, "^AdamW: "),
    ("Adam", {"capturable": True}, "^Adam: capturable=True"), ("SGD", {"differentiable": True}, "^SGD: ")])
def test_a_refused_option_names_the_optimiser_it_was_given_to(name, settings, match):
    """AdamW's refusals named Adam (its base class)."""
    with pytest.raises(NotImplementedError, match=match):
        getattr(optim, name)([Tensor(numpy.ones(2, "float32"), requires_grad=True)], **settings)


def test_an_optimizer_subclass_with_its_own_step_works_as_torchs(torch):
    """PyTorch's way to write an optimiser, a subclass of Optimizer with its defaults and a step(), was an
    AttributeError ('check_group') when made; its step runs between the step hooks (they were not called), and
    the base class's own step is PyTorch's NotImplementedError."""
    def define(base):
        class Plain(base):
            def __init__(self, params, lr=0.1):
                super().__init__(params, {"lr": lr})

            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        p.data -= group["lr"] * p.grad.data
        return Plain
    ours, theirs = Tensor(numpy.ones(2, "float32"), requires_grad=True), torch.ones(2, requires_grad=True)
    our_opt = define(optim.Optimizer)([ours])
    their_opt = define(torch.optim.Optimizer)([theirs])
    our_opt.add_param_group({"params": [Tensor(numpy.ones(1, "float32"), requires_grad=True)], "lr": 0.5})
    their_opt.add_param_group({"params": [torch.ones(1, requires_grad=True)], "lr": 0.5})
    for opt, p, grad in ((our_opt, ours, Tensor(numpy.ones(2, "float32"))), (their_opt, theirs, torch.ones(2))):
        opt.param_groups[1]["params"][0].grad = grad[:1]
        p.grad = grad
        opt.step()
        opt.zero_grad()
    numpy.testing.assert_allclose(host(ours), theirs.detach().numpy())
    assert ours.grad is None and [g["lr"] for g in our_opt.param_groups] == [0.1, 0.5]
    calls = {}
    for library, opt in ((tinyrrn, our_opt), (torch, their_opt)):  # its step between the step hooks, as PyTorch's
        seen = calls[library.__name__] = []
        opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", len(args))))
        opt.register_step_post_hook(lambda o, args, kwargs: seen.append("post"))
        for group in opt.param_groups:
            group["params"][0].grad = group["params"][0] * 0
        opt.step()
    assert calls["tinyrrn"] == calls["torch"] == [("pre", 1), "post"]
    base, their_base = optim.Optimizer([ours], {"lr": 0.1}), torch.optim.Optimizer([theirs], {"lr": 0.1})
    with pytest.raises(NotImplementedError):
        their_base.step()
    with pytest.raises(NotImplementedError, match="subclass of Optimizer defines"):
        base.step()


@pytest.mark.cpu_only("compares host arrays with torch")
@pytest.mark.parametrize("name, settings", [("Adam", {}), ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
                                            ("AdamW", {}), ("SGD", {"momentum": 0.9, "nesterov": True}),
                                            ("SGD", {"weight_decay": 0.1})])
def test_an_infinite_or_nan_gradient_gives_nan_silently_as_torch(torch, name, settings):
    """A step on an infinite or NaN gradient gives torch's values (NaN, inf) without a warning; tinyrrn's steps
    on the CPU warned NumPy's 'invalid value encountered' (a third behaviour; a run with -W error failed)."""
    start, gradient = numpy.array([1.0, 2.0, 3.0], "float32"), numpy.array([numpy.inf, numpy.nan, 1.0], "float32")
    ours, theirs = Tensor(start.copy(), requires_grad=True), torch.tensor(start.copy(), requires_grad=True)
    ours_opt = getattr(optim, name)([ours], lr=0.1, **settings)
    their_opt = getattr(torch.optim, name)([theirs], lr=0.1, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            ours.grad, theirs.grad = Tensor(gradient.copy()), torch.tensor(gradient.copy())
            ours_opt.step()
            their_opt.step()
    numpy.testing.assert_array_equal(ours.data, theirs.detach().numpy())


@pytest.mark.parametrize("name", SETTINGS)
def test_a_training_run_of_scheduled_updates_matches_torch_with_its_schedulers(rng, name, torch):
    """150 updates through parallel.DistributedOptimizer (gradients summed over 3 chunks, then averaged) at
    the learning rate of optim.learning_rate (5 updates of warm-up, then a cosine), against torch's optimiser
    stepped by LinearLR then CosineAnnealingLR: the lr changes at every update, weight decay, float64."""
    from tinyrrn.parallel import Communicator, DistributedOptimizer
    total, warmup, base = 150, 5, SETTINGS[name]["lr"]
    start = [rng.standard_normal(s) for s in ((6, 4), (5,))]
    ours = [Tensor(s.copy(), requires_grad=True) for s in start]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in start]
    optimiser = DistributedOptimizer(make(name, ours), Communicator(),
                                     schedule=lambda u: optim.learning_rate("cosine", base, u, total, warmup))
    kind = torch.optim.Adam if name == "adam" else torch.optim.SGD
    reference = kind(theirs, **SETTINGS[name])
    schedule = torch.optim.lr_scheduler
    scheduler = schedule.SequentialLR(reference, [schedule.LinearLR(reference, 1 / warmup, 1.0, warmup - 1),
                                                  schedule.CosineAnnealingLR(reference, total - warmup)], [warmup])
    for _ in range(total):
        for p, t in zip(ours, theirs):
            g = rng.standard_normal(p.shape)
            p.grad, t.grad = Tensor(3 * g), torch.tensor(g)
        optimiser.observe(3, 0.0)
        optimiser.step()
        reference.step()
        scheduler.step()
    for p, t in zip(ours, theirs):
        numpy.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, settings", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.1, "maximize": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "maximize": True, "foreach": True, "fused": False}),
    ("Adam", {"lr": 0.1, "maximize": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "foreach": False, "fused": False}),
    ("Adam", {"lr": 0.1, "fused": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.1, "fused": True, "amsgrad": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "fused": True}),
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1, "maximize": True, "betas": (0.5, 0.9)})])
def test_nesterov_maximize_amsgrad_and_foreach_step_as_torch(torch, rng, name, settings):
    """SGD's nesterov, Adam's amsgrad and both optimisers' maximize follow PyTorch's updates; foreach (how
    torch computes a step) and fused are taken (all were refused as unsupported; fused=True until PyTorch's CPU
    fused step was compared)."""
    start = rng.standard_normal((3, 4)).astype("float32")
    ours, theirs = Tensor(on_device(start.copy()), requires_grad=True), torch.nn.Parameter(torch.tensor(start))
    mine, reference = getattr(optim, name)([ours], **settings), getattr(torch.optim, name)([theirs], **settings)
    for _ in range(4):
        g = rng.standard_normal((3, 4)).astype("float32")
        ours.grad, theirs.grad = Tensor(on_device(g.copy())), torch.tensor(g)
        mine.step(), reference.step()
    numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("settings", [{"nesterov": True}, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}])
def test_nesterov_without_momentum_or_with_dampening_is_torchs_value_error(torch, settings):
    with pytest.raises(ValueError, match="Nesterov"):
        torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1, **settings)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([_param()], lr=0.1, **settings)


def test_amsgrad_state_round_trips_and_a_closure_computes_gradients_under_no_grad(torch):
    """Adam(amsgrad=True) saves and loads its third buffer (and its settings, as PyTorch); step(closure)
    runs the closure with gradients on, as PyTorch, even when step() is called under no_grad."""
    def closure_step(lib, make_param, no_grad, make_optimiser):
        p = make_param()
        opt = make_optimiser([p], lr=0.1, amsgrad=True)

        def closure():
            opt.zero_grad()
            loss = (p * p).sum()
            loss.backward()
            return loss
        with no_grad():
            opt.step(closure)
        return opt, p
    ours, p = closure_step("ours", lambda: Tensor(on_device(numpy.array([1.0, -2.0], "float32")), requires_grad=True),
                           tinyrrn.no_grad, optim.Adam)
    theirs, q = closure_step("torch", lambda: torch.nn.Parameter(torch.tensor([1.0, -2.0])), torch.no_grad,
                             torch.optim.Adam)
    numpy.testing.assert_allclose(host(p), q.detach().numpy(), rtol=1e-6)
    state = ours.state_dict()
    assert sorted(state["buffers"]["0"]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    again = optim.Adam([Tensor(on_device(numpy.zeros(2, "float32")), requires_grad=True)], amsgrad=True)
    again.load_state_dict(state)
    saved = state["buffers"]["0"]["max_exp_avg_sq"]
    numpy.testing.assert_array_equal(host(again.state[again.params[0]]["max_exp_avg_sq"]), host(saved))
    plain, their_plain = optim.Adam([_param()]), torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    plain.load_state_dict(state)
    their_plain.load_state_dict(theirs.state_dict())
    assert plain.amsgrad and their_plain.param_groups[0]["amsgrad"]  # the saved settings, as PyTorch
    with pytest.raises(ValueError, match="another optimiser"):
        optim.SGD([_param()]).load_state_dict(state)


@pytest.mark.parametrize("name, groups, defaults", [
    ("SGD", [{"lr": 0.5, "momentum": 0.9}, {"nesterov": True, "momentum": 0.5}], {"lr": 0.1, "weight_decay": 0.01}),
    ("SGD", [{}, {"lr": 0.02, "dampening": 0.5, "momentum": 0.9, "maximize": True}], {"lr": 0.1}),
    ("Adam", [{"lr": 0.01, "betas": (0.5, 0.9)}, {"amsgrad": True, "weight_decay": 0.1}], {"lr": 0.1}),
])
def test_parameter_groups_step_with_their_own_settings_as_torch(torch, rng, name, groups, defaults):
    """PyTorch's parameter groups (they were refused): each group's settings, the others the defaults, a group
    added later (add_param_group), param_groups[i][key] read and written live, a state round trip restoring
    the settings; a learning rate set as an attribute sets every group's (tinyrrn's shorthand)."""
    starts = [rng.standard_normal((3, 2)).astype("float32") for _ in range(3)]
    ours = [Tensor(on_device(s.copy()), requires_grad=True) for s in starts]
    theirs = [torch.nn.Parameter(torch.tensor(s)) for s in starts]
    mine = getattr(optim, name)([{"params": [ours[0]], **groups[0]}, {"params": ours[1], **groups[1]}], **defaults)
    reference = getattr(torch.optim, name)([{"params": [theirs[0]], **groups[0]}, {"params": theirs[1], **groups[1]}],
                                           **defaults)
    mine.add_param_group({"params": [ours[2]], "lr": 0.3})
    reference.add_param_group({"params": [theirs[2]], "lr": 0.3})
    assert [g["lr"] for g in mine.param_groups] == [g["lr"] for g in reference.param_groups]
    for step in range(4):
        if step == 2:
            mine.param_groups[0]["lr"] = reference.param_groups[0]["lr"] = 0.05
        for p, q in zip(ours, theirs):
            g = rng.standard_normal((3, 2)).astype("float32")
            p.grad, q.grad = Tensor(on_device(g.copy())), torch.tensor(g)
        mine.step(), reference.step()
    for p, q in zip(ours, theirs):
        numpy.testing.assert_allclose(host(p), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    again = getattr(optim, name)([{"params": [_param()]}, {"params": [_param()]}, {"params": [_param()]}], lr=9.0)
    for p, q in zip(again.params, ours):
        p.data = q.data.copy()
    again.load_state_dict(mine.state_dict())
    assert [g["lr"] for g in again.param_groups] == [0.05, mine.param_groups[1]["lr"], 0.3]
    assert again.param_groups[1] == {**mine.param_groups[1], "params": again.param_groups[1]["params"]}
    with pytest.raises(ValueError, match="different number of parameter groups"):  # torch's words (was the size's)
        getattr(optim, name)([_param(), _param(), _param()]).load_state_dict(mine.state_dict())
    with pytest.raises(ValueError, match="doesn't match the size"):
        getattr(optim, name)([{"params": [_param(), _param()]}, {"params": [_param()]}, {"params": []}]
                             ).load_state_dict(mine.state_dict())
    mine.lr = 0.25
    assert [g["lr"] for g in mine.param_groups] == [0.25] * 3 and mine.lr == 0.25


@pytest.mark.parametrize("name, option", [("Adam", {"differentiable": True}), ("Adam", {"capturable": True}),
                                          ("SGD", {"differentiable": True})])
def test_a_group_with_an_unsupported_option_is_refused(torch, name, option):
    """PyTorch reads these options from each group; a group that set one was taken and its option ignored in
    silence, a different trajectory. Refused as at the constructor, and each group holds torch's keys."""
    with pytest.raises(NotImplementedError, match=next(iter(option))):
        getattr(optim, name)([{"params": [_param()], **option}])
    with pytest.raises(NotImplementedError, match=next(iter(option))):
        getattr(optim, name)([_param()]).add_param_group({"params": [_param()], **option})
    mine = getattr(optim, name)([_param()], foreach=True)
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], foreach=True)
    assert set(mine.param_groups[0]) == set(theirs.param_groups[0]) and mine.param_groups[0]["foreach"] is True


def test_decoupled_weight_decay_set_in_param_groups_takes_effect_at_the_step_as_torch(torch):
    """PyTorch reads decoupled_weight_decay from the group at each step (AdamW's update): one set there after
    the optimiser was made changes the next step (it was refused, when tinyrrn had no AdamW)."""
    results = []
    for library in (tinyrrn, torch):
        p = library.nn.Parameter(library.ones(2) if library is torch else numpy.ones(2, "float32"))
        opt = library.optim.Adam([p], lr=0.1, weight_decay=0.5)
        opt.param_groups[0]["decoupled_weight_decay"] = True
        p.grad = library.zeros(2) if library is torch else Tensor(numpy.zeros(2, "float32"))
        opt.step()
        results.append(numpy.array(p.tolist() if library is torch else host(p.data)))
    numpy.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    numpy.testing.assert_allclose(results[0], [0.95, 0.95], rtol=1e-6)  # 1 - lr * weight_decay, no Adam step


def test_nesterov_with_dampening_set_in_param_groups_is_refused_at_the_step():
    """The step took the dampened momentum path and dropped the Nesterov term in silence (PyTorch would apply
    both); refused, as PyTorch's constructor refuses the pair."""
    p = _param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.param_groups[0]["dampening"] = 0.5
    p.grad = Tensor(numpy.ones(2, "float32"))
    with pytest.raises(NotImplementedError, match="Nesterov"):
        opt.step()
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, dampening=0.5)


@pytest.mark.parametrize("name, settings", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1})])
def test_editing_a_groups_params_keeps_each_parameters_state_as_torch(torch, rng, name, settings):
    """PyTorch keys its state by the parameter: after param_groups[0]['params'] is edited (one appended,
    removed, put back, the list replaced), each parameter steps with its own buffers and counts. tinyrrn's
    state by position gave the second group's parameter the first's buffers in silence, or an IndexError."""
    starts = [rng.standard_normal(3) for _ in range(3)]
    ours = [Tensor(on_device(s.copy()), requires_grad=True) for s in starts]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    mine = getattr(optim, name)([{"params": [ours[0]]}, {"params": [ours[1]]}], **settings)
    reference = getattr(torch.optim, name)([{"params": [theirs[0]]}, {"params": [theirs[1]]}], **settings)
    edits = {1: lambda ps, group: group.append(ps[2]), 2: lambda ps, group: group.remove(ps[0]),
             3: lambda ps, group: group.append(ps[0]), 4: lambda ps, group: group.__setitem__(slice(None), [ps[2]])}
    for step in range(6):
        if step in edits:
            edits[step](ours, mine.param_groups[0]["params"])
            edits[step](theirs, reference.param_groups[0]["params"])
        for p, q in zip(ours, theirs):
            g = rng.standard_normal(3)
            p.grad, q.grad = Tensor(on_device(g.copy())), torch.tensor(g)
        mine.step(), reference.step()
        for p, q in zip(ours, theirs):
            numpy.testing.assert_allclose(host(p), q.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert len(mine.state_dict()["buffers"]) == 2


def test_adam_takes_betas_and_weight_decay_as_tensors_as_torch(torch):
    """PyTorch's Adam takes one-element tensors for betas and weight_decay; tinyrrn's step failed inside NumPy
    ('loop of ufunc does not support argument 0 of type Tensor')."""
    ours, theirs = Tensor(numpy.ones(3), requires_grad=True), torch.ones(3, dtype=torch.float64, requires_grad=True)
    mine = optim.Adam([ours], lr=0.1, betas=(Tensor(numpy.array(0.8)), Tensor(numpy.array(0.9))),
                      weight_decay=Tensor(numpy.array(0.1)), amsgrad=True)
    reference = torch.optim.Adam([theirs], lr=0.1, betas=(torch.tensor(0.8, dtype=torch.float64),
                                 torch.tensor(0.9, dtype=torch.float64)),
                                 weight_decay=torch.tensor(0.1, dtype=torch.float64), amsgrad=True)
    for step in range(3):
        ours.grad, theirs.grad = Tensor(numpy.full(3, 0.5 - step)), torch.full((3,), 0.5 - step, dtype=torch.float64)
        mine.step(), reference.step()
    numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("key", ["momentum", "weight_decay", "dampening"])
def test_sgd_takes_its_settings_as_tensors_as_torch(torch, key):
    """PyTorch's SGD takes one-element tensors for momentum, weight_decay and dampening. tinyrrn's step did
    nothing in silence with a tensor momentum or weight_decay (NumPy's in-place *= with a Tensor rebinds the
    name and leaves the array), and a tensor dampening was refused."""
    ours, theirs = Tensor(numpy.ones(3), requires_grad=True), torch.ones(3, dtype=torch.float64, requires_grad=True)
    value = 0.9 if key == "momentum" else 0.5
    mine = optim.SGD([ours], lr=0.1, **{"momentum": 0.9, key: Tensor(numpy.array(value))})
    reference = torch.optim.SGD([theirs], lr=0.1, **{"momentum": 0.9, key: torch.tensor(value, dtype=torch.float64)})
    for step in range(3):
        ours.grad, theirs.grad = Tensor(numpy.full(3, 0.5 - step)), torch.full((3,), 0.5 - step, dtype=torch.float64)
        mine.step(), reference.step()
    numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_named_parameters_and_group_dicts_are_taken_as_torch(torch, name):
    """PyTorch's optimisers take model.named_parameters() (the names kept as each group's 'param_names', saved and
    loaded with the state) and keep the group dicts they are given, completed with the defaults."""
    groups = {}
    for library in (tinyrrn, torch):
        model = library.nn.Sequential(library.nn.Linear(2, 2), library.nn.Linear(2, 1))
        optimiser = getattr(library.optim, name)(model[0].named_parameters(), lr=0.5)
        given = {"params": model[1].named_parameters(prefix="1"), "lr": 0.1}
        optimiser.add_param_group(given)
        assert optimiser.param_groups[1] is given and given["params"] == list(model[1].parameters())
        groups[library] = [(g["param_names"], g["lr"], sorted(g)) for g in optimiser.param_groups]
        with pytest.raises(ValueError, match="with/without names"):
            optimiser.add_param_group({"params": [library.nn.Parameter(model[0].weight.detach() * 1)]})
        with pytest.raises(ValueError, match="Some param names are missing"):
            getattr(library.optim, name)([("w", model[0].weight), model[0].bias])
        if library is tinyrrn:
            saved = optimiser.state_dict()
            again = getattr(optim, name)([{"params": model[0].parameters()}, {"params": model[1].parameters()}])
            again.load_state_dict(saved)
            assert [g.get("param_names") for g in again.param_groups] == [["weight", "bias"], ["1.weight", "1.bias"]]
    assert groups[tinyrrn] == groups[torch]


@pytest.mark.parametrize("name, settings", [("SGD", {}), ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
                                            ("Adam", {}), ("Adam", {"betas": (0.5, 0.9), "amsgrad": True})])
def test_optimisers_print_their_defaults_and_groups_as_torch(torch, name, settings):
    printed = []
    for library in (tinyrrn, torch):
        first, second = library.nn.Linear(2, 2), library.nn.Linear(2, 1)
        optimiser = getattr(library.optim, name)(first.parameters(), **settings)
        optimiser.add_param_group({"params": second.parameters(), "lr": 0.5, "weight_decay": 0.25})
        printed.append((repr(optimiser), sorted(optimiser.defaults.items())))
    assert printed[0] == printed[1]


@pytest.mark.parametrize("settings", [{"betas": (0, 0.9)}, {"betas": (0.9, "tensor")}, {"betas": (numpy.float32(0.9), 0.99)},
                                      {"betas": ("tensor", "tensor"), "foreach": True},
                                      {"lr": "tensor", "foreach": True}])
def test_adam_refuses_the_betas_and_tensor_settings_torch_refuses(torch, settings):
    """PyTorch's Adam takes two floats or two tensors as betas, and no tensor setting with foreach=True; tinyrrn
    took them all and stepped."""
    for library, tensor in ((tinyrrn, lambda: Tensor(numpy.array(0.5))), (torch, lambda: torch.tensor(0.5))):
        given = {k: tuple(tensor() if b == "tensor" else b for b in v) if k == "betas" else tensor() if v == "tensor"
                 else v for k, v in settings.items()}
        parameter = library.nn.Parameter(tensor() * 1)
        with pytest.raises(ValueError, match="betas must be either|is not supported for capturable=False"):
            library.optim.Adam([parameter], **given)


def test_adam_holds_its_betas_as_a_tuple_as_torch(torch):
    for library in (tinyrrn, torch):
        given = [0.8, 0.9]
        optimiser = library.optim.Adam(library.nn.Linear(1, 1).parameters(), betas=given)
        given[0] = 0.1
        assert optimiser.param_groups[0]["betas"] == optimiser.defaults["betas"] == (0.8, 0.9)


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("before, after", [("float32", "float64"), ("float32", "float16"), ("float64", "float32")])
def test_adam_refuses_to_step_with_state_of_another_dtype_than_its_parameter_as_torch(torch, amsgrad, before, after):
    """After model.double() (or .half(), .float()) Adam's buffers keep the dtype they were made in; PyTorch's step
    then raises (load_state_dict would cast them), where tinyrrn stepped with buffers of the other precision."""
    for library in (torch, tinyrrn):
        model = library.nn.Linear(2, 1).to(getattr(library, before) if library is torch else before)
        optimiser = library.optim.Adam(model.parameters(), lr=0.1, amsgrad=amsgrad)
        for converted in (False, True):
            if converted:
                model.to(getattr(library, after) if library is torch else after)
            model.weight.grad = model.weight * 0 + 1
            model.bias.grad = model.bias * 0 + 1
            weight = numpy.array(model.weight.tolist() if library is torch else host(model.weight.data))
            if not converted:
                optimiser.step()
        with pytest.raises(RuntimeError, match="dtype"):
            optimiser.step()
        unchanged = numpy.array(model.weight.tolist() if library is torch else host(model.weight.data))
        if library is tinyrrn:  # nothing changed by the refused step
            numpy.testing.assert_array_equal(unchanged, weight)
            assert optimiser.steps == 1 and optimiser.param_steps == [1, 1]


@pytest.mark.parametrize("make, settings", [
    ("AdamW", {"lr": 0.1}), ("AdamW", {"lr": 0.1, "weight_decay": 0.5, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0}), ("Adam", {"lr": 0.1, "weight_decay": 0.3, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.3, "amsgrad": True, "decoupled_weight_decay": True})])
def test_adamw_and_decoupled_weight_decay_step_as_torch(torch, rng, make, settings):
    """torch.optim.AdamW (Adam with decoupled_weight_decay=True: the parameter shrunk by lr * weight_decay, not
    the decay added to the gradient; weight_decay 1e-2 by default) was missing, and the option refused."""
    start = rng.standard_normal((3, 4)).astype("float32")
    ours, theirs = Tensor(on_device(start.copy()), requires_grad=True), torch.nn.Parameter(torch.tensor(start))
    mine, reference = getattr(optim, make)([ours], **settings), getattr(torch.optim, make)([theirs], **settings)
    assert repr(mine) == repr(reference) and mine.defaults == reference.defaults
    for _ in range(4):
        g = rng.standard_normal((3, 4)).astype("float32")
        ours.grad, theirs.grad = Tensor(on_device(g.copy())), torch.tensor(g)
        mine.step(), reference.step()
    numpy.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    again = getattr(optim, make)([Tensor(on_device(start.copy()), requires_grad=True)])
    again.load_state_dict(mine.state_dict())
    assert again.param_groups[0]["decoupled_weight_decay"] is True
    with pytest.raises(TypeError):
        torch.optim.AdamW([theirs], decoupled_weight_decay=False)
    with pytest.raises(TypeError):
        optim.AdamW([ours], decoupled_weight_decay=False)


@pytest.mark.parametrize("name, settings", [("Adam", {"lr": 0.1}), ("Adam", {"lr": 0.1, "amsgrad": True}),
                                            ("SGD", {"lr": 0.1, "momentum": 0.9}), ("SGD", {"lr": 0.1})])
def test_state_is_keyed_by_the_parameter_with_torchs_names(torch, rng, name, settings):
    """PyTorch's ``optimizer.state`` is a dict keyed by the parameter (an entry once it took a step), holding
    tensors named as its: Adam's 'step', 'exp_avg', 'exp_avg_sq' ('max_exp_avg_sq'), SGD's 'momentum_buffer'
    (nothing without momentum). tinyrrn's was a list by position, with SGD's buffer named 'momentum'."""
    start = rng.standard_normal((2, 3)).astype("float32")
    ours = [Tensor(on_device(start.copy()), requires_grad=True) for _ in range(2)]
    theirs = [torch.tensor(start.copy(), requires_grad=True) for _ in range(2)]
    mine, reference = getattr(optim, name)(ours, **settings), getattr(torch.optim, name)(theirs, **settings)
    for _ in range(2):
        g = rng.standard_normal((2, 3)).astype("float32")
        ours[0].grad, theirs[0].grad = Tensor(on_device(g.copy())), torch.tensor(g)
        mine.step(), reference.step()
    assert (ours[0] in mine.state, ours[1] in mine.state) == (theirs[0] in reference.state, False)
    assert len(mine.state) == len(reference.state)
    assert list(mine.state[ours[0]]) == list(reference.state[theirs[0]])  # in PyTorch's order
    for key, value in reference.state[theirs[0]].items():
        assert isinstance(mine.state[ours[0]][key], Tensor)
        numpy.testing.assert_allclose(host(mine.state[ours[0]][key]), value.numpy(), rtol=1e-6)
    assert mine.state[ours[1]] == {} == reference.state[theirs[1]]  # a defaultdict, as PyTorch's
    again = getattr(optim, name)([Tensor(on_device(start.copy()), requires_grad=True) for _ in range(2)], **settings)
    again.load_state_dict(mine.state_dict())
    for key, value in mine.state[ours[0]].items():
        numpy.testing.assert_array_equal(host(again.state[again.params[0]][key]), host(value))
    assert list(again.state[again.params[0]]) == list(reference.state[theirs[0]])
    assert again.param_steps == mine.param_steps == [2, 0]


@pytest.mark.parametrize("saved, loading", [("SGD", "Adam"), ("SGD", "AdamW"), ("Adam", "SGD"), ("AdamW", "SGD")])
@pytest.mark.parametrize("stepped", [False, True])
def test_a_state_of_another_optimiser_is_refused_clearly(saved, loading, stepped):
    """An SGD state loaded into Adam was a KeyError 'amsgrad' (with momentum buffers) or taken silently (before
    any step, or without momentum: Adam's groups then held SGD's settings); an Adam state not yet stepped was
    taken by SGD. Now each is a ValueError naming the settings the groups lack, nothing changed."""
    param = Tensor(numpy.ones(2, "float32"), requires_grad=True)
    source = getattr(optim, saved)([param], lr=0.1, **({"momentum": 0.9} if saved == "SGD" else {}))
    if stepped:
        param.grad = Tensor(numpy.ones(2, "float32"))
        source.step()
    target = getattr(optim, loading)([Tensor(numpy.ones(2, "float32"), requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match="lack .*: a state of another optimiser"):
        target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["lr"] == 0.5 and not target.state


def _damaged(name):
    """A state_dict() of Adam after a step on two parameters, with one part damaged as ``name`` says."""
    params = [Tensor(numpy.ones(n, "float32"), requires_grad=True) for n in (2, 3)]
    adam = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = Tensor(numpy.ones(p.shape, "float32"))
    adam.step()
    state = adam.state_dict()
    buffers = state["buffers"]
    damage = {"buffers keyed otherwise": lambda: state.update(buffers={"5": buffers["0"], "6": buffers["1"]}),
              "buffers a list": lambda: state.update(buffers=[buffers["0"], buffers["1"]]),
              "param_steps short": lambda: state.update(param_steps=[1]),
              "param_steps of text": lambda: state.update(param_steps=["x", 1]),
              "steps text": lambda: state.update(steps="x"),
              "state_steps keyed otherwise": lambda: state.update(state_steps={"7": state["state_steps"]["0"]}),
              "a buffer a list": lambda: buffers["0"].update(exp_avg=[1.0, 2.0]),
              "a buffer of text": lambda: buffers["0"].update(exp_avg=numpy.array(["a", "b"])),
              "a group without params": lambda: state["param_groups"][0].pop("params"),
              "param_groups a number": lambda: state.update(param_groups=3)}
    damage[name]()
    return state


@pytest.mark.parametrize("name, says", [
    ("buffers keyed otherwise", "'buffers' is keyed"), ("buffers a list", "'buffers' is not a dict"),
    ("param_steps short", "'param_steps' is not a list of 2 integers"), ("param_steps of text", "'param_steps'"),
    ("steps text", "'steps' is 'x'"), ("state_steps keyed otherwise", "'state_steps' is keyed"),
    ("a buffer a list", "buffer exp_avg of parameter 0 is list"), ("a buffer of text", "buffer exp_avg of parameter 0"),
    ("a group without params", "'param_groups' is not"), ("param_groups a number", "'param_groups' is not")])
def test_a_damaged_optimizer_state_is_refused_naming_the_part(name, says):
    """A state_dict() with a part damaged was a KeyError, a TypeError or an AttributeError, or (param_steps
    shorter than the parameters) loaded part of the state silently, the last parameter starting afresh. Now a
    ValueError naming the part, and the optimiser unchanged."""
    param = Tensor(numpy.ones(2, "float32"), requires_grad=True)
    adam = optim.Adam([param, Tensor(numpy.ones(3, "float32"), requires_grad=True)], lr=0.5)
    refused = f"^Adam.load_state_dict: {re.escape(says)}.*not as state_dict\\(\\) writes it$"
    with pytest.raises(ValueError, match=refused):
        adam.load_state_dict(_damaged(name))
    assert adam.param_groups[0]["lr"] == 0.5 and not adam.state and adam.steps == 0


def test_sgd_loads_a_state_of_older_tinyrrn_whose_buffer_is_named_momentum():
    """Checkpoints written before SGD's buffer took PyTorch's name 'momentum_buffer' hold 'momentum'."""
    param = Tensor(numpy.zeros(2, "float32"), requires_grad=True)
    sgd = optim.SGD([param], lr=0.1, momentum=0.9)
    sgd.load_state_dict({"steps": 1, "lr": 0.1, "param_steps": [1], "buffers": {"0": {"momentum": numpy.ones(2, "float32")}}})
    param.grad = Tensor(numpy.ones(2, "float32"))
    sgd.step()
    numpy.testing.assert_allclose(host(sgd.state[param]["momentum_buffer"]), [1.9, 1.9])
    assert list(sgd.state_dict()["buffers"]["0"]) == ["momentum_buffer"]


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizer_hooks_are_called_as_torchs(torch, name):
    """PyTorch's step pre/post hooks (hook(optimizer, args, kwargs), args starting with the optimizer; a pre-hook
    may return (args, kwargs)), state_dict pre/post hooks (a post-hook may return a new state_dict) and
    load_state_dict pre/post hooks (a pre-hook may return a new state_dict), each with a removable handle and
    ``prepend``; tinyrrn had none (AttributeError)."""
    calls = {}
    for library in (torch, tinyrrn):
        param = library.nn.Parameter(library.ones(2)) if library is torch else Tensor(numpy.ones(2, "float32"),
                                                                                       requires_grad=True)
        optimiser = getattr(library.optim, name)([param], lr=0.1)
        seen = calls[library.__name__] = []
        swapped = lambda: seen.append("swapped closure") or 1.0  # noqa: E731
        optimiser.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", o is optimiser, len(args),
                                                                                args[0] is o, sorted(kwargs))))
        optimiser.register_step_pre_hook(lambda o, args, kwargs: ((o, swapped), {}))
        handle = optimiser.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", args[1] is swapped)))
        optimiser.register_state_dict_pre_hook(lambda o: seen.append("sd pre 2"))
        optimiser.register_state_dict_pre_hook(lambda o: seen.append("sd pre 1"), prepend=True)
        optimiser.register_state_dict_post_hook(lambda o, state: {**state, "extra": 1})
        optimiser.register_load_state_dict_pre_hook(lambda o, state: seen.append(("ld pre", state.get("extra"))))
        optimiser.register_load_state_dict_pre_hook(lambda o, state: {k: v for k, v in state.items() if k != "extra"})
        optimiser.register_load_state_dict_post_hook(lambda o: seen.append("ld post"))
        param.grad = param * 0 + 1
        seen.append(optimiser.step(closure=lambda: 2.0))
        handle.remove()
        optimiser.step()
        state = optimiser.state_dict()
        seen.append(state["extra"])
        optimiser.load_state_dict(state)
    assert calls["tinyrrn"] == calls["torch"]
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        optimiser.register_step_pre_hook(lambda o, args, kwargs: 3)
        optimiser.step()


@pytest.mark.parametrize("name, says", [("lr_scheduler", "learning_rate"), ("swa_utils", "learning_rate"),
                                        ("RMSprop", "SGD, Adam and AdamW"), ("LBFGS", "SGD, Adam and AdamW")])
def test_what_tinyrrn_lacks_of_torch_optim_says_what_to_use(torch, name, says):
    # optim.lr_scheduler (torch's StepLR, CosineAnnealingLR, ...) and torch's other optimisers were a bare "has no
    # attribute": the AttributeError (hasattr stays False) now says why they are not there and what to use
    assert hasattr(torch.optim, name) and not hasattr(optim, name)
    with pytest.raises(AttributeError, match=says):
        getattr(optim, name)
    with pytest.raises(AttributeError, match="^module 'tinyrrn.optim' has no attribute 'nothing'$"):
        optim.nothing


def _adam_after(library, make_tensor, script):
    """Parameters of optimisers that ``script(new_optimiser, step)`` made and stepped: each optimiser an Adam on
    two new parameters, each step with its own gradient."""
    made = []

    def new_optimiser():
        params = [make_tensor(numpy.arange(3.0) + i) for i in range(2)]
        made.append(params)
        return library.optim.Adam(params, lr=0.1)

    def step(optimiser, scale):
        for p in optimiser.param_groups[0]["params"]:
            p.grad = make_tensor(scale * numpy.array([1.0, -2.0, 3.0]))
        optimiser.step()

    script(new_optimiser, step)
    return [[p.tolist() for p in params] for params in made]


def _shared_state_scripts():
    def taken_then_stepped(new, step):  # the state_dict shows the optimiser's state as it is now, as torch's
        first = new()
        step(first, 1.0)
        state = first.state_dict()
        step(first, 3.0)
        second = new()
        second.load_state_dict(state)
        step(second, -2.0)

    def loaded_then_both_step(new, step):  # the loaded state is shared, step counts included, as torch's
        first = new()
        step(first, 1.0)
        second = new()
        second.load_state_dict(first.state_dict())
        step(first, 3.0)
        step(second, -2.0)
        step(first, 0.5)

    def step_count_set(new, step):  # a 'step' set in the state counts at the next step, as torch's
        first = new()
        step(first, 1.0)
        for p in first.param_groups[0]["params"]:
            first.state[p]["step"] = type(p)(numpy.array(10.0, "float32"))
        step(first, 2.0)
    return [taken_then_stepped, loaded_then_both_step, step_count_set]


@pytest.mark.parametrize("script", _shared_state_scripts(), ids=lambda f: f.__name__)
def test_adams_step_counts_are_its_state_as_torchs(torch, script):
    """Adam's state 'step' was a read-only copy of counts kept elsewhere, and state_dict() gave counts taken then
    with the moments themselves: one changed or shared (as torch's state_dict shares its tensors) did not count,
    and a state taken, then stepped on, loaded moments of one step with the count of another."""
    theirs = _adam_after(torch, lambda a: torch.tensor(a, requires_grad=True), script)
    ours = _adam_after(tinyrrn, lambda a: Tensor(a, requires_grad=True), script)
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-12)
