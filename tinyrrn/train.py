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

Under ``mpiexec -n N`` (or with ``--distributed``) one model is trained over N ranks: see
tinyrrn/distributed.py. ``--batch`` is then the global batch (split over the ranks), updates
count global observations, and only rank 0 writes files and shows progress.
"""
import datetime
import json
import math
import os
import resource
import signal
import sys
import time

import numpy

from . import backend, checkpoint, config as configuration, distributed
from . import functional as F
from . import random as tinyrandom
from .builders import build_dataset, build_model, model_from_state
from .data.video import BadVideo
from .evaluate import evaluate, summary
from .nn import BatchNorm2d
from .optim import OPTIMIZERS, learning_rate
from .plots import plot_training_curve
from .progress import Progress
from .tensor import Tensor


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the last good checkpoint is kept."""


# -- building blocks ---------------------------------------------------------
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


# -- the trainer -------------------------------------------------------------
class Trainer:
    """One training run: model, optimiser, data, and the state that a checkpoint must hold.

    ``comm`` (tinyrrn.distributed): the ranks that train this model together; by default one
    process. Every rank runs the same code; collectives keep their decisions identical.
    """

    def __init__(self, config, run_dir, resume=None, comm=None):
        self.config, self.run_dir = config, run_dir
        self.comm = comm if comm is not None else distributed.Communicator()
        self.is_root = self.comm.is_root
        if self.is_root:
            os.makedirs(run_dir, exist_ok=True)
        tinyrandom.manual_seed(config["seed"])
        with self.comm.root_first():  # rank 0 generates/indexes the data; the others then read it
            self.train_set = build_dataset(config, train=True)
            self.test_set = build_dataset(config, train=False)
        self.classes = self.train_set.classes
        self.model = build_model(config, len(self.classes)).to(backend.get_device())
        self.sync_bn = bool(config.get("sync_bn")) and self.comm.size > 1
        if self.sync_bn:
            distributed.SyncBatchNorm.convert(self.model, self.comm)
        self.optimizer = OPTIMIZERS[config["optimizer"]](
            self.model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"],
            **({"momentum": config["momentum"]} if config["optimizer"] == "sgd" else {}))
        # the global batches of one process; this rank loads its part of each (see ShardedLoader)
        self.loader = distributed.ShardedLoader(
            self.train_set, batch_size=config["batch"], rank=self.comm.rank, size=self.comm.size, shuffle=True,
            seed=config["seed"], workers=config["workers"],
            bad_videos_path=os.path.join(run_dir, "bad_videos.txt") if self.is_root else None)
        if self.is_root and config["batch"] < self.comm.size:
            print(f"warning: --batch {config['batch']} is smaller than the {self.comm.size} ranks: some ranks "
                  "get no chunks (--batch is the global batch)", file=sys.stderr, flush=True)
        self.update_size = update_size(config["update_every"], len(self.train_set))
        batches_per_update = math.ceil(self.update_size / config["batch"])  # updates fall on batch ends
        self.total_updates = config["epochs"] * math.ceil(len(self.loader) / batches_per_update)
        if config["max_steps"]:
            self.total_updates = min(self.total_updates, config["max_steps"])
        self.epoch, self.updates, self.observed, self.loss_sum = 0, 0, 0, 0.0
        self.best_error, self.history = None, []
        self.stop_requested = False  # agreed by all ranks
        self._stop_signal = False    # Ctrl-C seen by this process
        if resume:
            self._restore(resume)

    # checkpoints ------------------------------------------------------------
    def _arrays(self):
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        for i, buffers in self.optimizer.state_dict()["buffers"].items():
            arrays.update({f"optim/{i}/{name}": v for name, v in buffers.items()})
        for i, p in enumerate(self.optimizer.params):
            if p.grad is not None and self.observed:  # gradients accumulated towards the next update
                arrays[f"grad/{i}"] = p.grad
        return arrays

    def save(self, name="checkpoint.npz"):
        """Write a checkpoint (rank 0). Called on every rank: with several ranks the accumulated
        gradients are summed and the bad-video lists joined, so the file does not depend on the
        number of ranks."""
        path = os.path.join(self.run_dir, name)
        if self.comm.size > 1:
            self._gather_bad_videos()
            if not self.sync_bn and not self.config["freeze_bn"]:
                distributed.average_buffers(self.model, self.comm)
            if self.observed:  # gradients accumulated towards the next update: their sum over the ranks
                own = [p.grad for p in self.optimizer.params]  # (grad/i) and each rank's part (rank<r>/grad/i)
                parts = self.comm.gather([None if g is None else backend.to_numpy(g) for g in own])
                distributed.reduce_gradients(self.optimizer.params, self.comm)
                arrays = self._arrays()
                for p, grad in zip(self.optimizer.params, own):
                    p.grad = grad
                for r, part in enumerate(parts or []):  # so that the same ranks resume bit for bit
                    arrays.update({f"rank{r}/grad/{i}": g for i, g in enumerate(part) if g is not None})
            else:
                arrays = self._arrays()
        else:
            arrays = self._arrays()
        if self.is_root:
            meta = {"config": self.config, "classes": self.classes, "epoch": self.epoch, "updates": self.updates,
                    "observed": self.observed, "loss_sum": self.loss_sum, "best_error": self.best_error,
                    "history": self.history, "optimizer": {"steps": self.optimizer.steps, "lr": self.optimizer.lr},
                    "loader": self.loader.state_dict(), "random": tinyrandom.get_state(), "ranks": self.comm.size}
            checkpoint.save(path, arrays, meta)
        self.comm.barrier()  # the file is complete before any rank goes on (and may read it)
        return path

    def _gather_bad_videos(self):
        for path in sorted(set().union(*self.comm.allgather(list(self.loader.bad_videos)))):
            if path not in self.loader.bad_videos:
                self.loader._record_bad(BadVideo(path, "bad on another rank"), warn=False)

    def _restore(self, path):
        arrays, meta = self.comm.on_root(checkpoint.load, path)  # read once, sent to every rank
        self.model.load_state_dict(checkpoint.prefixed(arrays, "model"))
        buffers = {}
        for name, value in checkpoint.prefixed(arrays, "optim").items():
            index, key = name.split("/", 1)
            buffers.setdefault(index, {})[key] = value
        for i in range(len(self.optimizer.params)):
            buffers.setdefault(str(i), {})
        self.optimizer.load_state_dict({**meta["optimizer"], "buffers": buffers})
        xp = backend.module_for(backend.get_device())
        # accumulated gradients: each rank its own part when the ranks are the same, else rank 0 the sum
        same_ranks = self.comm.size > 1 and meta.get("ranks") == self.comm.size
        if same_ranks or self.is_root:
            grads = checkpoint.prefixed(arrays, f"rank{self.comm.rank}/grad" if same_ranks else "grad")
            for name, value in grads.items():
                self.optimizer.params[int(name)].grad = xp.asarray(value)
        self.loader.load_state_dict(meta["loader"])
        tinyrandom.set_state(meta["random"])
        self.epoch, self.updates, self.observed = meta["epoch"], meta["updates"], meta["observed"]
        self.loss_sum, self.best_error, self.history = meta["loss_sum"], meta["best_error"], meta["history"]

    # logging ------------------------------------------------------------------
    def log(self, record):
        if not self.is_root:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(os.path.join(self.run_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    # the loop -----------------------------------------------------------------
    def _train_mode(self):
        self.model.train()
        if self.config["freeze_bn"]:
            for m in self.model.modules():
                if isinstance(m, BatchNorm2d):
                    m.eval()

    def _update(self):
        """Average the accumulated gradients over the observed chunks (of all ranks) and take one optimiser step."""
        if self.comm.size > 1:  # one Allreduce of all gradients, then / global observations
            distributed.reduce_gradients(self.optimizer.params, self.comm, divide_by=self.observed)
        else:
            for p in self.optimizer.params:
                if p.grad is not None:
                    p.grad *= 1.0 / self.observed
        self.optimizer.lr = learning_rate(self.config["schedule"], self.config["lr"], self.updates,
                                          self.total_updates, self.config["warmup"])
        self.optimizer.step()
        self.optimizer.zero_grad()
        loss = self.loss_sum / self.observed
        self.updates += 1
        self.observed, self.loss_sum = 0, 0.0
        return loss

    def run(self):
        """Train until the last epoch (or --max-steps), evaluating after each epoch; return final metrics."""
        device = backend.get_device()
        previous_handler = signal.signal(signal.SIGINT, self._request_stop)
        try:
            while self.epoch < self.config["epochs"] and not self._done():
                self._train_epoch(device)
                if self.stop_requested:
                    path = self.save()
                    if self.is_root:
                        print(f"\ninterrupted: checkpoint written to {path}; continue with "
                              f"python -m tinyrrn.train --resume {self.run_dir}", flush=True)
                    return None
                self._end_epoch()
        finally:
            signal.signal(signal.SIGINT, previous_handler)
        return self.finish()

    def _done(self):
        return self.config["max_steps"] is not None and self.updates >= self.config["max_steps"]

    def _request_stop(self, signum, frame):
        if self._stop_signal:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self._stop_signal = True
        if self.is_root:
            print("\nCtrl-C: finishing this batch, then writing a checkpoint (Ctrl-C again to abort)", flush=True)

    def _train_epoch(self, device):
        self._train_mode()
        self.loader.set_epoch(self.epoch)
        batches = len(self.loader)
        bar = Progress(total=batches, desc=f"epoch {self.epoch + 1}/{self.config['epochs']}",
                       stream=self.comm.stream())
        bar.update(self.loader.position)  # batches already done when resuming
        wait = compute = 0.0
        clips_seen, window_start, comm_start = 0, time.monotonic(), self.comm.comm_seconds
        iterator, end = iter(self.loader), object()
        while True:
            t0 = time.monotonic()
            batch = next(iterator, end)
            t1 = time.monotonic()
            if batch is end:
                break
            if batch is None:  # this rank's part of the global batch is empty (all ranks still step)
                count, loss_sum = 0, 0.0
                if self.sync_bn:
                    self._dummy_pass(device)
            else:
                clips, labels, _ = batch
                logits = self.model(Tensor(backend.to_device(clips, device)))
                loss = F.cross_entropy(logits, backend.to_device(labels, device))
                (loss * len(labels)).backward()  # summed over chunks; averaged in _update
                count, loss_sum = len(labels), loss.item() * len(labels)  # the one host round-trip of a step
            # chunks, loss and Ctrl-C of the global batch: one small Allreduce (the identity on one process,
            # so one process and N ranks take the same decisions from the same numbers)
            totals = self.comm.allreduce_sum(numpy.array([count, loss_sum, float(self._stop_signal)]))
            count = int(totals[0])
            if not count:  # every chunk of the global batch was from a bad video
                bar.update(1)
                continue
            value = totals[1] / count
            if not math.isfinite(value):
                raise TrainingError(f"non-finite loss ({value}) at update {self.updates + 1}, epoch "
                                    f"{self.epoch + 1}; the last good checkpoint in {self.run_dir} is kept")
            self.observed += count
            self.loss_sum += totals[1]
            clips_seen += count
            wait += t1 - t0
            compute += time.monotonic() - t1
            if self.observed >= self.update_size:
                loss_value = self._update()
                if self.updates % self.config["log_every"] == 0 or self._done():
                    elapsed = time.monotonic() - window_start
                    record = {"kind": "step", "epoch": self.epoch + 1, "update": self.updates, "loss": loss_value,
                              "lr": self.optimizer.lr, "clips_per_s": round(clips_seen / elapsed, 2),
                              "data_wait": round(wait / max(wait + compute, 1e-9), 4), **memory_mb()}
                    if self.comm.size > 1:  # global clips/s; share of rank 0's time in collectives
                        record.update(ranks=self.comm.size,
                                      comm_share=round((self.comm.comm_seconds - comm_start) / elapsed, 4))
                    self.log(record)
                    clips_seen, wait, compute, window_start = 0, 0.0, 0.0, time.monotonic()
                    comm_start = self.comm.comm_seconds
            bar.update(1, loss=value, upd=self.updates)
            self.stop_requested = bool(totals[2] > 0)
            if self.stop_requested or self._done():
                break
        bar.close()
        if self.observed and not self.stop_requested:  # the epoch's last, partial update
            self._update()

    def _dummy_pass(self, device):
        """With --sync-bn, a rank without chunks runs one zero chunk that counts for nothing, so
        that it joins every batch-norm collective of the forward and backward passes."""
        c = self.config
        clips = backend.module_for(device).zeros((1, c["chunk"], 3, c["crop"], c["crop"]), dtype="float32")
        with distributed.no_contribution():
            logits = self.model(Tensor(clips))
        logits.backward(logits.data * 0)  # zero gradients: nothing is added to any parameter's sum

    def _end_epoch(self):
        self.epoch += 1
        if self.comm.size > 1 and not self.sync_bn and not self.config["freeze_bn"]:
            distributed.average_buffers(self.model, self.comm)  # per-rank BN statistics -> their mean
        metrics = evaluate(self.model, self.test_set, self.config["batch"], self.config["workers"],
                           desc=f"eval {self.epoch}", comm=self.comm)
        record = {"kind": "epoch", "epoch": self.epoch, "update": self.updates,
                  **{k: metrics[k] for k in ("video_error", "top1", "top5", "mean_class_accuracy", "clip_accuracy")},
                  "bad_videos": len(self.loader.bad_videos), **memory_mb()}
        self.log(record)
        self.history.append(record)
        if self.is_root:
            print(f"epoch {self.epoch}: {summary(metrics)}", flush=True)
        if self.best_error is None or metrics["video_error"] < self.best_error:
            self.best_error = metrics["video_error"]
            self.save("best.npz")
        self.save()
        if self.is_root:
            plot_training_curve(os.path.join(self.run_dir, "metrics.jsonl"),
                                os.path.join(self.run_dir, "training_curve.png"))

    def finish(self):
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


def new_run_dir(config):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(config["out"], f"{stamp}-{config['name']}")
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join(config["out"], f"{stamp}-{config['name']}-{suffix}")
    return path


def train(config, run_dir=None, resume=False, comm=None):
    """Train one model (on the ranks of ``comm``, default one process); returns (final metrics or
    None if interrupted, run_dir)."""
    comm = comm if comm is not None else distributed.Communicator()
    run_dir = run_dir or comm.on_root(new_run_dir, config)
    if comm.is_root:
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
    trainer = Trainer(config, run_dir, resume=os.path.join(run_dir, "checkpoint.npz") if resume else None, comm=comm)
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
        comm = distributed.init(force=config["distributed"])
    except distributed.DistributedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with distributed.failure_guard(comm):  # several ranks: one failing stops all (no hang)
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
        backend.set_device(config["device"])
        if comm.size > 1 and backend.get_device() == "gpu":
            comm.use_gpu()  # one GPU per rank, before anything is allocated
        for label, run_config, directory in runs:
            resumable = comm.on_root(os.path.isfile, os.path.join(directory, "checkpoint.npz"))
            metrics, _ = train(run_config, directory, resume=resumable, comm=comm)
            if metrics is None:
                return 130
            results.append((label, metrics, directory))
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
