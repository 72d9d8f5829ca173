"""Train and evaluate a recurrent residual network: ``python -m tinyrrn.train [flags]``.

With no flags: generate the synthetic dataset into the user cache (once),
train a small ResNet with a temporal skip and, for comparison, the same
backbone without one (context 1), evaluate both by video, and print both
errors. With ``--data ROOT`` the same on UCF-101 (see ``--help`` and
``--preset`` for the paper's rows).

Optimisation follows the paper (Sec. 4): Adam, and one update after
observing ``--update-every`` chunks (default 1% of the training chunks):
mini-batch gradients are summed and divided by the number of observed
chunks before each update. A run directory ``OUT/<date>-<name>/`` holds the
resolved config, ``metrics.jsonl``, plots, checkpoints (``checkpoint.npz``
after every epoch or interruption, ``best.npz`` by test video error) and the
bad-videos list. ``--resume RUN_DIR`` continues exactly where it stopped.

The file, top down:

* ``train_one_epoch`` -- the loop: load -> forward -> loss -> backward -> accumulate -> step;
* ``Trainer`` -- what stands around the loop: the run's parts, checkpoints, the metrics log,
  evaluation after each epoch, Ctrl-C;
* ``train`` and ``main`` -- the job.

Under ``mpiexec -n N`` (or with ``--distributed``) one model is trained over N ranks by the same
code: tinyrrn/parallel.py holds what differs. ``--batch`` is then the global batch (split over the
ranks), updates count global observations, and only rank 0 writes files and shows progress.
"""
import datetime
import json
import math
import os
import resource
import sys
import time

import numpy

from . import backend, checkpoint, cli, config as configuration, parallel, signals
from . import functional as F
from . import random as tinyrandom
from .builders import build_dataset, build_model, model_from_state
from .data import ChunkLoader
from .evaluate import evaluate, summary
from .files import JsonLog, write_json
from .nn import BatchNorm2d
from .optim import OPTIMIZERS, learning_rate
from .plots import plot_training_curve
from .progress import Progress
from .tensor import Tensor

EPOCH_METRICS = ("video_error", "top1", "top5", "mean_class_accuracy", "clip_accuracy")


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss)."""


# -- the loop ------------------------------------------------------------------
def forward_backward(model, clips, labels):
    """The cross-entropy of a batch summed over its chunks; its gradients are added to every
    parameter's ``.grad``. A rank with no chunks in this batch still joins the collectives."""
    if len(labels) == 0:
        parallel.idle_pass(model, clips.shape[1:])
        return 0.0
    device = backend.get_device()
    logits = model(Tensor(backend.to_device(clips, device)))
    loss = F.cross_entropy(logits, backend.to_device(labels, device))
    (loss * len(labels)).backward()  # summed over chunks; averaged over all observed chunks at the update
    return loss.item() * len(labels)  # the one host round trip of a step


def train_one_epoch(model, loader, optimizer, update_size, run):
    """One pass over the training chunks; returns False when a signal stopped it early.

    load -> forward -> loss -> backward -> accumulate -> step: the gradients of every chunk are
    summed until ``update_size`` chunks are observed (on all ranks), then ``optimizer`` (a
    parallel.DistributedOptimizer) averages them into one update -- the paper's rule (Sec. 4).
    ``run`` (a Trainer) stands around the loop: it times the loader, hears of every batch and
    update (progress, metrics, checks) and says when to stop (a signal, --max-steps).
    """
    for clips, labels, _ in run.timed(loader):  # this rank's chunks of one global batch
        loss_sum = forward_backward(model, clips, labels)
        # one tiny Allreduce (the identity on one process): every rank sees the same chunk count,
        # loss and stop request, so that all ranks take the same decisions
        chunks, loss_sum, stop = optimizer.comm.allreduce_sum(
            numpy.array([len(labels), loss_sum, run.stop_signal()], dtype=numpy.float64))
        if chunks:  # 0 when every chunk of the batch was from a bad video
            run.check_loss(loss_sum / chunks)
            optimizer.observe(int(chunks), loss_sum)
        if optimizer.observed >= update_size:
            run.after_update(optimizer.step())
        run.after_batch(chunks, loss_sum)
        if stop:
            return False
        if run.reached_max_steps():
            break
    if optimizer.observed:  # the epoch's last, partial update
        run.after_update(optimizer.step())
    return True


def update_size(update_every, train_chunks):
    """Chunks per update from '64' or '1%' (of the training chunks), at least 1."""
    text = str(update_every).strip()
    if text.endswith("%"):
        share = float(text[:-1]) / 100
        if not 0 < share <= 1:
            raise ValueError(f"--update-every {text}: the percentage must be in (0, 100]")
        return max(1, math.ceil(share * train_chunks))
    size = int(text)
    if size < 1:
        raise ValueError(f"--update-every {text}: must be at least 1 chunk")
    return size


def memory_mb():
    """Peak resident memory of this process (and GPU pool use, when on a GPU), in MB."""
    usage = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if backend.get_device() == "gpu":
        usage["gpu_pool_mb"] = round(backend.module_for("gpu").get_default_memory_pool().used_bytes() / 2**20, 1)
    return usage


class Throughput:
    """Clips per second, the share of time spent waiting for data and in collectives, between two log lines."""

    def __init__(self, comm):
        self.comm = comm
        self.reset()

    def reset(self):
        self.start, self.wait, self.clips = time.monotonic(), 0.0, 0
        self.comm_start = self.comm.comm_seconds

    def timed(self, batches):
        """Yield from ``batches``, adding the time spent waiting for each to ``wait``."""
        iterator = iter(batches)
        while True:
            before = time.monotonic()
            batch = next(iterator, None)
            self.wait += time.monotonic() - before
            if batch is None:
                return
            yield batch

    def record(self):
        """The figures since the last record (global clips/s; rank 0's shares), then start again."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        figures = {"clips_per_s": round(self.clips / elapsed, 2), "data_wait": round(self.wait / elapsed, 4),
                   "ranks": self.comm.size, "comm_share": round((self.comm.comm_seconds - self.comm_start) / elapsed, 4)}
        self.reset()
        return figures


# -- around the loop -------------------------------------------------------------
class Trainer:
    """One training run: model, optimiser, data, the state a checkpoint holds, and what stands
    around the loop -- checkpoints, the metrics log, evaluation after each epoch, signals.

    ``comm`` (tinyrrn.parallel): the ranks that train this model together; by default one
    process. Every rank runs the same code; collectives keep their decisions identical.
    """

    def __init__(self, config, run_dir, comm=None):
        self.config, self.run_dir = config, run_dir
        self.comm = comm if comm is not None else parallel.Communicator()
        self.is_root = self.comm.is_root
        tinyrandom.manual_seed(config["seed"])
        with self.comm.root_first():  # rank 0 generates/indexes the data; the others then read it
            self.train_set = build_dataset(config, train=True)
            self.test_set = build_dataset(config, train=False)
        self.classes = self.train_set.classes
        self.model = build_model(config, len(self.classes)).to(backend.get_device())
        if config["sync_bn"]:  # BN statistics of all ranks' chunks (on one process: plain BN)
            parallel.SyncBatchNorm.convert(self.model, self.comm)
        optimizer = OPTIMIZERS[config["optimizer"]](
            self.model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"],
            **({"momentum": config["momentum"]} if config["optimizer"] == "sgd" else {}))
        self.optimizer = parallel.DistributedOptimizer(optimizer, self.comm, schedule=self.learning_rate)
        self.loader = ChunkLoader(  # the global batches of one process; this rank loads its part of each
            self.train_set, batch_size=config["batch"], shuffle=True, seed=config["seed"], workers=config["workers"],
            rank=self.comm.rank, world=self.comm.size,
            bad_videos_path=os.path.join(run_dir, "bad_videos.txt") if self.is_root else None)
        if self.is_root and config["batch"] < self.comm.size:
            print(f"warning: --batch {config['batch']} is smaller than the {self.comm.size} ranks: some ranks "
                  "get no chunks (--batch is the global batch)", file=sys.stderr, flush=True)
        self.update_size = update_size(config["update_every"], len(self.train_set))
        batches_per_update = math.ceil(self.update_size / config["batch"])  # updates fall on batch ends
        self.total_updates = config["epochs"] * math.ceil(len(self.loader) / batches_per_update)
        if config["max_steps"]:
            self.total_updates = min(self.total_updates, config["max_steps"])
        self.log = JsonLog(os.path.join(run_dir, "metrics.jsonl"))
        self.epoch, self.best_error, self.history = 0, None, []
        self.signals, self.bar = signals.StopSignals(announce=self.is_root), None
        self.throughput = Throughput(self.comm)

    @property
    def updates(self):
        return self.optimizer.steps

    def learning_rate(self, update):
        return learning_rate(self.config["schedule"], self.config["lr"], update, self.total_updates,
                             self.config["warmup"])

    # the epochs --------------------------------------------------------------
    def run(self):
        """Train until the last epoch (or --max-steps), evaluating after each; returns the final metrics.

        A signal stops the loop at the next batch: a checkpoint is written there and
        signals.Interrupted raised (``--resume`` continues exactly from it)."""
        with self.signals:
            while self.epoch < self.config["epochs"] and not self.reached_max_steps():
                self.start_epoch()
                finished = train_one_epoch(self.model, self.loader, self.optimizer, self.update_size, self)
                self.bar.close()
                if not finished:
                    path = self.save()
                    signum = max(self.comm.allgather(self.signals.received))  # the signal some rank received
                    raise signals.Interrupted(signum, path, f"checkpoint written to {path}; continue "
                                              f"with python -m tinyrrn.train --resume {self.run_dir}")
                self.end_epoch()
        return self.final_evaluation()

    def start_epoch(self):
        self.model.train()
        if self.config["freeze_bn"]:  # fixed statistics: batch-norm layers stay in evaluation mode
            for m in self.model.modules():
                if isinstance(m, BatchNorm2d):
                    m.eval()
        self.loader.set_epoch(self.epoch)
        self.bar = Progress(total=len(self.loader), desc=f"epoch {self.epoch + 1}/{self.config['epochs']}",
                            stream=self.comm.stream())
        self.bar.update(self.loader.position)  # batches already done when resuming
        self.throughput.reset()

    def end_epoch(self):
        """Evaluate on the test split, log, keep best.npz by video error, write the checkpoint and the plot."""
        self.epoch += 1
        self.make_ranks_agree()
        metrics = evaluate(self.model, self.test_set, self.config["batch"], self.config["workers"],
                           desc=f"eval {self.epoch}", comm=self.comm)
        record = {"kind": "epoch", "epoch": self.epoch, "update": self.updates,
                  **{k: metrics[k] for k in EPOCH_METRICS}, "bad_videos": len(self.loader.bad_videos), **memory_mb()}
        self.history.append(record)
        if self.is_root:
            self.log.write(record)
            print(f"epoch {self.epoch}: {summary(metrics)}", flush=True)
        if self.best_error is None or metrics["video_error"] < self.best_error:
            self.best_error = metrics["video_error"]
            self.save("best.npz")
        self.save()
        if self.is_root:
            plot_training_curve(self.log.path, os.path.join(self.run_dir, "training_curve.png"))

    def final_evaluation(self):
        """Evaluate the best checkpoint and write the full report into RUN_DIR/eval."""
        best = os.path.join(self.run_dir, "best.npz")

        def read_best():  # rank 0 reads; the model arrays go to every rank
            if not os.path.isfile(best):
                return None
            arrays, meta = checkpoint.load(best)
            return checkpoint.prefixed(arrays, "model"), meta
        saved = self.comm.on_root(read_best)
        model = model_from_state(*saved, best)[0] if saved is not None else self.model
        metrics = evaluate(model, self.test_set, self.config["batch"], self.config["workers"],
                           out_dir=os.path.join(self.run_dir, "eval"), desc="final eval", comm=self.comm)
        if self.is_root:
            print(f"best checkpoint: {summary(metrics)}", flush=True)
        return metrics

    # hooks the loop calls ------------------------------------------------------
    def timed(self, loader):
        return self.throughput.timed(loader)

    def stop_signal(self):
        """1.0 when this process received a signal asking the run to stop."""
        return float(bool(self.signals.received))

    def reached_max_steps(self):
        return self.config["max_steps"] is not None and self.updates >= self.config["max_steps"]

    def check_loss(self, value):
        if not math.isfinite(value):
            raise TrainingError(f"non-finite loss ({value}) at update {self.updates + 1}, epoch "
                                f"{self.epoch + 1}; the last good checkpoint in {self.run_dir} is kept")

    def after_batch(self, chunks, loss_sum):
        self.throughput.clips += int(chunks)
        self.bar.update(1, **({"loss": loss_sum / chunks} if chunks else {}), upd=self.updates)

    def after_update(self, loss):
        """Log the update (every --log-every updates, and the last)."""
        if self.is_root and (self.updates % self.config["log_every"] == 0 or self.reached_max_steps()):
            self.log.write({"kind": "step", "epoch": self.epoch + 1, "update": self.updates, "loss": loss,
                            "lr": self.optimizer.lr, **self.throughput.record(), **memory_mb()})

    # checkpoints ------------------------------------------------------------------
    def make_ranks_agree(self):
        """Before evaluation and checkpoints: equal BN statistics on every rank (unless they already are)
        and every rank's bad videos known to all. Nothing changes on one process."""
        if not self.config["sync_bn"] and not self.config["freeze_bn"]:
            parallel.average_buffers(self.model, self.comm)  # per-rank BN statistics -> their mean
        for path in sorted(set().union(*self.comm.allgather(self.loader.bad_videos))):
            self.loader.mark_bad(path, "bad on another rank", warn=False)

    def save(self, name="checkpoint.npz"):
        """Write a checkpoint (rank 0; called on every rank). It holds each rank's accumulated
        gradients, so that the same ranks resume bit for bit."""
        path = os.path.join(self.run_dir, name)
        self.make_ranks_agree()
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        optimizer = self.optimizer.state_dict()  # every rank's gradients are gathered on rank 0
        if self.is_root:
            for i, buffers in optimizer["buffers"].items():
                arrays.update({f"optim/{i}/{name}": v for name, v in buffers.items()})
            for rank, gradients in enumerate(optimizer["gradients"]):
                arrays.update({f"rank{rank}/grad/{i}": g for i, g in gradients.items()})
            meta = {"config": self.config, "classes": self.classes, "epoch": self.epoch, "updates": self.updates,
                    "observed": optimizer["observed"], "loss_sum": optimizer["loss_sum"],
                    "best_error": self.best_error, "history": self.history,
                    "optimizer": {"steps": optimizer["steps"], "lr": optimizer["lr"]},
                    "loader": self.loader.state_dict(), "random": tinyrandom.get_state(), "ranks": self.comm.size}
            checkpoint.save(path, arrays, meta)
        self.comm.barrier()  # the file is complete before any rank goes on (and may read it)
        return path

    def restore(self, path):
        """Continue from a checkpoint written by save() with the same number of ranks."""
        arrays, meta = self.comm.on_root(checkpoint.load, path)  # read once, sent to every rank
        if meta["ranks"] != self.comm.size:
            raise ValueError(f"{path}: written by {meta['ranks']} rank(s); resume it with the same number, "
                             f"not {self.comm.size}")
        self.model.load_state_dict(checkpoint.prefixed(arrays, "model"))
        buffers = {str(i): {} for i in range(len(self.optimizer.params))}
        for name, value in checkpoint.prefixed(arrays, "optim").items():
            index, key = name.split("/", 1)
            buffers[index][key] = value
        gradients = [checkpoint.prefixed(arrays, f"rank{r}/grad") for r in range(self.comm.size)]
        self.optimizer.load_state_dict({**meta["optimizer"], "buffers": buffers, "observed": meta["observed"],
                                        "loss_sum": meta["loss_sum"], "gradients": gradients})
        self.loader.load_state_dict(meta["loader"])
        tinyrandom.set_state(meta["random"])
        self.epoch, self.best_error, self.history = meta["epoch"], meta["best_error"], meta["history"]


# -- the job ------------------------------------------------------------------------
def new_run_dir(config):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(config["out"], f"{stamp}-{config['name']}")
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join(config["out"], f"{stamp}-{config['name']}-{suffix}")
    return path


def train(config, run_dir=None, resume=False, comm=None):
    """Train one model (on the ranks of ``comm``, default one process); returns (final metrics, run_dir).

    A signal (Ctrl-C) writes a checkpoint and raises signals.Interrupted."""
    comm = comm if comm is not None else parallel.Communicator()
    run_dir = run_dir or comm.on_root(new_run_dir, config)
    if comm.is_root:
        write_json(os.path.join(run_dir, "config.json"), config)
    trainer = Trainer(config, run_dir, comm=comm)
    if resume:
        trainer.restore(os.path.join(run_dir, "checkpoint.npz"))
    if comm.is_root:
        ranks = f", {comm.size} ranks of {-(-config['batch'] // comm.size)} chunks" if comm.size > 1 else ""
        print(f"run {run_dir}: {config['arch']} skip={config['skip']} positions={list(trainer.model.positions)} "
              f"T={config['context']} | {len(trainer.train_set)} training chunks of {len(trainer.train_set.videos)} "
              f"videos, update every {trainer.update_size} chunks, {trainer.total_updates} updates{ranks}",
              flush=True)
    return trainer.run(), run_dir


def main(argv=None):
    config, resume = configuration.resolve(argv)
    try:
        comm = parallel.init(force=config["distributed"])
    except parallel.DistributedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with parallel.failure_guard(comm):  # several ranks: one failing stops all (no hang)
        return _main(config, resume, comm)


def _read_saved_config(resume):
    saved = os.path.join(resume, "config.json")
    if not os.path.isfile(saved):
        return None
    with open(saved) as f:
        return json.load(f)


def _main(config, resume, comm):
    if resume:
        config = comm.on_root(_read_saved_config, resume)
        if config is None:
            if comm.is_root:
                print(f"error: {resume} is not a run directory (no config.json)", file=sys.stderr)
            return 2
    run_dir = resume or comm.on_root(new_run_dir, config)
    runs = [("temporal skip", config, run_dir)]
    if config["baseline"]:
        baseline = {**config, "skip": "none", "positions": None, "context": 1, "baseline": False,
                    "name": config["name"] + "-baseline"}
        runs.append(("no skip (context 1)", baseline, os.path.join(run_dir, "baseline")))
    results = []
    try:
        cli.use_compute(config["device"], config["threads"])
        if backend.get_device() == "gpu":
            comm.use_gpu()  # one GPU per rank, before anything is allocated
        for label, run_config, directory in runs:
            resumable = comm.on_root(os.path.isfile, os.path.join(directory, "checkpoint.npz"))
            metrics, _ = train(run_config, directory, resume=resumable, comm=comm)
            results.append((label, metrics, directory))
    except signals.Interrupted as stop:
        if comm.is_root:
            print(f"\ninterrupted: {stop}", flush=True)
        return stop.exit_code
    except (TrainingError, ValueError, OSError) as err:
        if comm.size > 1:  # may have happened on this rank only: stop every rank (failure_guard)
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not comm.is_root:
        return 0
    print("\nvideo-level error on the test split:")
    for label, metrics, directory in results:
        print(f"  {label:<22} {metrics['video_error']:.4f}   ({directory})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
