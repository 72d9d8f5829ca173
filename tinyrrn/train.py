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
after every epoch or interruption, ``best.npz`` by validation video error) and the
bad-videos list. ``--resume RUN_DIR`` continues exactly where it stopped.

The protocol (UCF-101 has no validation split): ``--val-groups N`` whole gNN groups of the
training list (default 3, fixed by ``--seed``, listed in ``val_groups.txt``) are held out; the
model is validated on them after every epoch and ``best.npz`` keeps the epoch with the lowest
validation video error (the earliest of equal ones). The test split is evaluated once, at the end, for that epoch
(``eval/``) and the last epoch (``eval-last/``): it never selects anything. ``--val-groups 0``
trains on the whole list and reports the last epoch. A resumed run whose ``best.npz`` is missing
or unreadable says so and selects again among the epochs whose weights are kept
(``Trainer.recover_best``).

The file, top down:

* ``train_one_epoch`` -- the loop: load -> forward -> loss -> backward -> accumulate -> step;
* ``Trainer`` -- what stands around the loop: the run's parts, checkpoints (only of finite
  weights), the metrics log, divergence warnings, validation after each epoch, the final test
  evaluation of the selected and the last epoch, Ctrl-C / SIGTERM;
* ``train`` and ``main`` -- the job.

Under ``mpiexec -n N`` (or with ``--distributed``) one model is trained over N ranks by the same
code: tinyrrn/parallel.py holds what differs. ``--batch`` is then the global batch (split over the
ranks), updates count global observations, and only rank 0 writes files and shows progress.
"""
import contextlib
import functools
import json
import math
import multiprocessing
import os
import resource
import shlex
import shutil
import sys
import time

import numpy

from . import backend, checkpoint, cli, config as configuration, parallel, rundir, signals, threads
from . import functional as F
from . import random as tinyrandom
from .beside import RunBeside, SharedClock
from .builders import (build_dataset, build_model, check_classes, check_weights, check_recorded_folders, dataset_root,
                       model_from_state, saved_settings)
from .cli import UsageError
from .data import ChunkLoader
from .data.loader import PlanChanged
from .data.splits import read_split
from .evaluate import (HEADLINE, evaluate, protocol_reports, rerun_record, summary, test_videos, weights_record,
                       write_report)
from .files import JsonLog, write_text
from .models import ARCHITECTURES, default_positions, describe_positions, resolve_position
from .models.rrn import position_aliases
from .nn import BatchNorm2d
from .optim import OPTIMIZERS, learning_rate
from .plots import plot_training_curve
from .progress import JobClock, Progress
from .tensor import Tensor


class TrainingError(cli.Failure):
    """Training cannot go on (a non-finite loss or weights); the message says what was kept."""


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
    """One pass over the training chunks; returns how it ended: "end" (after the epoch's last batch),
    "signal" (a signal asked the run to stop) or "max_steps" (--max-steps reached before the epoch's end:
    a run resumed with a higher cap trains the rest of this epoch).

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
            return "signal"
        if run.reached_max_steps() and loader.position < len(loader):
            return "max_steps"
    if optimizer.observed:  # the epoch's last, partial update
        run.after_update(optimizer.step())
    return "end"


def update_size(update_every, train_chunks):
    """Chunks per update from '64' or '1%' (of the training chunks), at least 1."""
    try:
        number, percentage = configuration.parse_update_every(update_every)
    except ValueError as err:
        raise UsageError(f"--update-every {str(update_every).strip()!r}: {err}") from None
    return max(1, math.ceil(number / 100 * train_chunks)) if percentage else number


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


def max_steps_reached(config, updates):
    """Whether ``updates`` reach the run's --max-steps (never without one)."""
    return config["max_steps"] is not None and updates >= config["max_steps"]


def trains_more(config, epoch, updates):
    """False once the last epoch (or --max-steps) of ``config`` is done: what is left is the final evaluation."""
    return epoch < config["epochs"] and not max_steps_reached(config, updates)


def describe_updates(update_size, batch, update_every):
    """When the weights change: after every batch, or every k batches with gradients accumulated.
    An update falls at the end of a batch once ``update_size`` chunks are observed (train_one_epoch)."""
    asked = f"--update-every {update_every} = {update_size} chunk{'s' if update_size > 1 else ''}"
    per_update = math.ceil(update_size / batch)
    if per_update == 1:
        return f"an update after every batch of {batch} chunks ({asked}, at most one batch)"
    return (f"an update every {per_update} batches of {batch} chunks, gradients accumulated over "
            f"{per_update * batch} chunks ({asked})")


# -- around the loop -------------------------------------------------------------
class Trainer:
    """One training run: model, optimiser, data, the state a checkpoint holds, and what stands
    around the loop -- checkpoints, the metrics log, checks, validation after each epoch, the
    final test evaluation, signals.

    ``comm`` (tinyrrn.parallel): the ranks that train this model together; by default one
    process. Every rank runs the same code; collectives keep their decisions identical.
    """

    # a run diverges when its loss grows past this multiple of its first update's loss, or a weight past this size
    DIVERGENCE_LOSS_FACTOR, DIVERGENCE_WEIGHT = 100.0, 1e6
    PLOT_EVERY_SECONDS = 30.0  # the training curve is redrawn after an epoch at most this often, and at the end

    def __init__(self, config, run_dir, comm=None, removed_on_failure=False, job=None, resuming=False,
                 resume_command=None, setting_flag=None, run_id=None):
        self.config, self.run_dir = config, run_dir
        self.run_id = run_id  # the run's identity (rundir.new_run_id), recorded in each checkpoint
        # what continues this run (--resume of its folder, or the job it is part of), and how its user changes a
        # setting (a flag of train, or reproduce's --set KEY=VALUE): the messages name what can be typed
        self.resume_command = resume_command or continue_command(run_dir)
        self.setting_flag = setting_flag or train_flag
        self.job = job if job is not None else JobClock(1)  # run i of n, and the time the job has left
        self.plotted = (None, -math.inf)  # (epoch, time) training_curve.png was last drawn at
        self.removed_on_failure = removed_on_failure  # a new run directory, removed if no checkpoint is written
        self.comm = comm if comm is not None else parallel.Communicator()
        self.is_root = self.comm.is_root
        tinyrandom.manual_seed(config["seed"])
        with self.comm.root_first():  # rank 0 generates/indexes the data; the others then read it
            self.train_set = build_dataset(config, train=True)  # without the validation groups
            self.val_set = build_dataset(config, train=True, validation=True) if config["val_groups"] else None
            self.test_set = build_dataset(config, train=False)
        self.classes, self.val_groups = self.train_set.classes, self.train_set.val_groups
        self.videos = self.comm.on_root(self.signatures)  # the data as the run starts, recorded in its checkpoints
        # resuming: every weight comes from the checkpoint, so --weights (only needed to start the run) is not read
        self.model = build_model({**config, "weights": None} if resuming else config,
                                 len(self.classes)).to(backend.get_device())
        if self.comm.size > 1:  # (the digest of a ResNet-50 takes a while: not on one process)
            parallel.same_on_every_rank(self.comm, {
                "classes": self.classes, "training chunks": len(self.train_set), "test chunks": len(self.test_set),
                "validation chunks": len(self.val_set) if self.val_set is not None else 0,
                "starting weights (digest)": checkpoint.weights_digest(self.model.state_dict())}, "data or weights",
                "every rank must read the same dataset and --weights (the same paths and files on every host)")
        if config["sync_bn"]:  # BN statistics of all ranks' chunks (on one process: plain BN)
            parallel.SyncBatchNorm.convert(self.model, self.comm)
        optimizer = OPTIMIZERS[config["optimizer"]](
            self.model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"],
            **({"momentum": config["momentum"]} if config["optimizer"] == "sgd" else {}))
        self.optimizer = parallel.DistributedOptimizer(optimizer, self.comm, schedule=self.learning_rate)
        self.loader = ChunkLoader(  # the global batches of one process; this rank loads its part of each
            self.train_set, batch_size=config["batch"], shuffle=True, seed=config["seed"], workers=config["workers"],
            rank=self.comm.rank, world=self.comm.size, device=backend.get_device(),
            bad_videos_path=os.path.join(run_dir, "bad_videos.txt") if self.is_root else None)
        if self.is_root and config["batch"] < self.comm.size:
            print(f"warning: --batch {config['batch']} is smaller than the {self.comm.size} ranks: some ranks "
                  "get no chunks (--batch is the global batch)", file=sys.stderr, flush=True)
        self.log = JsonLog(os.path.join(run_dir, "metrics.jsonl"))
        self.epoch, self.history, self.warnings = 0, [], []
        self.best_error, self.best_epoch = None, None  # the lowest validation video error, and its epoch
        self.best_digest = None  # checkpoint.weights_digest of best.npz's weights
        self.first_loss, self.saved_at = None, None  # saved_at: (epoch, update, weights digest) of checkpoint.npz
        self.signals, self.bar = signals.StopSignals(announce=self.is_root), None
        self.throughput = Throughput(self.comm)
        self.plan_updates()
        self.refuse_unusable_evaluation_sets()

    @property
    def updates(self):
        return self.optimizer.steps

    def datasets(self):
        """{name: dataset} of the run's training, validation (when groups are held out) and test videos."""
        sets = {"training": self.train_set, "validation": self.val_set, "test": self.test_set}
        return {name: dataset for name, dataset in sets.items() if dataset is not None}

    def signatures(self):
        """{name: UCF101.signatures} of each of the run's datasets."""
        return {name: dataset.signatures() for name, dataset in self.datasets().items()}

    def refuse_changed_data(self, recorded, path):
        """On resuming: refuse data other than the ``recorded`` signatures (checkpoint ``path``'s) of the run's start,
        naming the split list that lists other videos, or the video replaced since (another size, mtime or digest of
        its ends): the resumed run would train, select or test on other frames than the run it continues. A checkpoint
        of an older tinyrrn records no digests: its videos are compared by size and mtime."""
        now = self.signatures()
        if not (isinstance(recorded, dict) and recorded.keys() == now.keys() and all(
                isinstance(videos, list) and all(isinstance(v, list) and len(v) in (3, 4) and isinstance(v[0], str)
                                                 for v in videos) for videos in recorded.values())):
            raise checkpoint.CheckpointError(f"{path}: its metadata's 'videos' is not the signatures of the run's "
                                             f"{', '.join(now)} videos")
        advice = "; nothing was changed: put {} back as it was to resume the run, or start a new run"
        for name, dataset in self.datasets().items():
            then, listed = [v[0] for v in recorded[name]], [v[0] for v in now[name]]
            if then != listed:
                gone, added = sorted(set(then) - set(listed)), sorted(set(listed) - set(then))
                change = (f"{gone[0]} is no longer listed" if gone else f"{added[0]} is listed now" if added
                          else "its lines are in another order")
                raise UsageError(f"{dataset.list_file}: changed since the run started: {change} among the {name} "
                                 "videos" + advice.format("the list"))
            changed = next((i for i, (old, video) in enumerate(zip(recorded[name], now[name]))
                            if old != video[:len(old)]), None)
            if changed is not None:
                raise UsageError(f"{dataset.paths[changed]}: changed since the run started (its size, modification "
                                 f"time or content is not the one {path} records: replaced, re-encoded or copied "
                                 "over?)"
                                 + advice.format("the original video"))

    def refuse_unusable_evaluation_sets(self):
        """Refuse, before any training, validation groups or a test list whose videos are all bad
        (known from their frame counts, each named in a warning): no epoch could be selected, or tested."""
        if self.val_set is not None and not len(self.val_set):
            groups = ", ".join(f"g{g:02d}" for g in self.val_groups)
            raise ValueError(f"{self.val_set.list_file}: all {len(self.val_set.videos)} videos of the validation "
                             f"groups {groups} are bad (each named in a warning), so no epoch could be selected; "
                             "replace them, or start a run with --val-groups 0 (no validation: the last epoch is "
                             "reported)")
        if not len(self.test_set):
            raise ValueError(f"{self.test_set.list_file}: all {len(self.test_set.videos)} videos it lists are bad "
                             "(each named in a warning), so the model could not be tested; replace them or fix the "
                             "list")

    def plan_updates(self):
        """Chunks per update (1% of the training chunks, by default) and the updates of the whole run;
        refuses a training set left without chunks (all its videos bad)."""
        if not len(self.train_set):
            held_out = " outside the validation groups" if self.train_set.val_groups else ""
            raise ValueError(f"{self.train_set.list_file}: no training chunks are left: all "
                             f"{len(self.train_set.videos)} videos it lists{held_out} are bad "
                             "(each named in a warning)")
        self.update_size = update_size(self.config["update_every"], len(self.train_set))
        batches_per_update = math.ceil(self.update_size / self.config["batch"])  # updates fall on batch ends
        per_epoch = math.ceil(len(self.loader) / batches_per_update)
        epoch_start = self.history[-1]["update"] if self.history else 0  # also in mid-epoch, as an uninterrupted run
        self.total_updates = epoch_start + (self.config["epochs"] - self.epoch) * per_epoch
        if self.config["max_steps"]:
            self.total_updates = min(self.total_updates, self.config["max_steps"])

    def learning_rate(self, update):
        return learning_rate(self.config["schedule"], self.config["lr"], update, self.total_updates,
                             self.config["warmup"])

    # the epochs --------------------------------------------------------------
    def run(self):
        """Train until the last epoch (or --max-steps), evaluating after each; returns the final metrics.

        A signal stops the loop at the next batch: a checkpoint is written there and
        signals.Interrupted raised (``--resume`` continues exactly from it). A signal after the last
        batch stops before or during the final evaluation, at once, keeping the last checkpoint
        (``--resume`` then runs the evaluation again)."""
        with self.signals:
            while self.trains_more():
                self.start_epoch()
                ended = train_one_epoch(self.model, self.loader, self.optimizer, self.update_size, self)
                self.bar.close()
                if ended == "signal":
                    path = self.save()
                    signum = max(self.comm.allgather(self.signals.received))  # the signal some rank received
                    raise signals.Interrupted(signum, path, f"checkpoint written to {path}; continue "
                                              f"with {self.resume_command}")
                if ended == "max_steps":
                    self.save()  # in mid-epoch, not counted as done: a higher --max-steps goes on from here
                else:
                    self.end_epoch()
        self.plot()
        path, message = os.path.join(self.run_dir, "checkpoint.npz"), (
            f"stopped before the final test evaluation ended; {self.kept()}; {self.resume_command} runs the "
            "evaluation again")
        signum = max(self.comm.allgather(self.signals.received))  # received after the last batch (validating)
        if signum:
            raise signals.Interrupted(signum, path, message)
        try:
            with signals.StopAtOnce(signals.HANDLED, path, message):
                return self.final_evaluation()
        except signals.Interrupted as stop:
            if self.comm.size > 1:  # this rank alone stopped, mid-collective: a stop at once, which stops every rank
                raise signals.Interrupted(stop.signum, None, str(stop)) from None
            raise

    def start_epoch(self):
        if self.loader.position == 0:  # an epoch boundary: videos found bad while decoding leave the plan
            found_bad = [p for p in self.loader.bad_videos if p not in self.train_set.bad_videos]
            if found_bad:
                self.train_set.drop(found_bad)
                self.plan_updates()
                if self.is_root:
                    print(f"{len(found_bad)} video(s) found bad: {len(self.train_set)} training chunks now, an update "
                          f"every {self.update_size} chunks", flush=True)
        self.model.train()
        if self.config["freeze_bn"]:  # fixed statistics: batch-norm layers stay in evaluation mode
            for m in self.model.modules():
                if isinstance(m, BatchNorm2d):
                    m.eval()
        self.loader.set_epoch(self.epoch)
        self.bar = Progress(total=len(self.loader),
                            desc=f"{self.job.label()}epoch {self.epoch + 1}/{self.config['epochs']}",
                            stream=self.comm.stream())
        self.bar.update(self.loader.position)  # batches already done when resuming
        self.throughput.reset()

    def end_epoch(self):
        """Validate on the held-out training groups (never the test split), log, keep best.npz by
        validation video error, write the checkpoint and the plot."""
        self.epoch += 1
        self.make_ranks_agree()
        record = {"kind": "epoch", "epoch": self.epoch, "update": self.updates,
                  "bad_videos": len(self.loader.bad_videos), **memory_mb()}
        if self.val_set is not None:
            metrics = evaluate(self.model, self.val_set, self.config["batch"], self.config["workers"],
                               desc=f"validate {self.epoch}", comm=self.comm)
            record.update({f"val_{k}": metrics[k] for k in HEADLINE})
        self.history.append(record)
        if self.is_root:
            self.log.write(record)
            if self.val_set is not None:
                print(f"epoch {self.epoch}: validation {summary(metrics)}", flush=True)
        if self.val_set is not None and (self.best_error is None or metrics["video_error"] < self.best_error):
            self.best_error, self.best_epoch = metrics["video_error"], self.epoch
            self.save("checkpoint.npz", "best.npz")
        else:
            self.save()
        self.plot(every=self.PLOT_EVERY_SECONDS)

    def plot(self, every=0.0):
        """Redraw training_curve.png (rank 0) if it does not show this epoch yet and ``every`` seconds
        have passed since it was drawn: drawing takes about 0.25 s, a tenth of an epoch of the main job."""
        now = time.monotonic()
        if self.is_root and self.plotted[0] != self.epoch and now - self.plotted[1] >= every:
            plot_training_curve(self.log.path, os.path.join(self.run_dir, "training_curve.png"))
            self.plotted = (self.epoch, now)

    def final_evaluation(self):
        """The test split, evaluated once per epoch the protocol reports: the last epoch into RUN_DIR/eval-last and
        then the selected epoch (best.npz) into RUN_DIR/eval, which marks the run's end. Returns the
        selected epoch's metrics with the protocol and the last epoch's figures (under "last").
        Each report names the checkpoint file and the digest of the weights it is of; a run that
        --max-steps stopped in mid-epoch reports that epoch's weights as its last, saying so."""
        batch, workers = self.config["batch"], self.config["workers"]
        last = evaluate(self.model, self.test_set, batch, workers, desc="test, last epoch", comm=self.comm)
        last_epoch = self.epoch + (self.loader.position > 0)  # counting an epoch cut short by --max-steps
        epoch = self.best_epoch if self.val_set is not None and self.best_epoch is not None else last_epoch
        last_weights = weights_record(os.path.join(self.run_dir, "checkpoint.npz"), self.saved_at[2], self.updates)
        if epoch == last_epoch:
            selected, selected_weights = last, last_weights
        else:
            best = os.path.join(self.run_dir, "best.npz")

            def read_best():  # rank 0 reads; the model arrays go to every rank
                arrays, meta = checkpoint.load(best)
                return checkpoint.prefixed(arrays, "model"), meta
            model = model_from_state(*self.comm.on_root(read_best), best)[0]
            selected = evaluate(model, self.test_set, batch, workers, desc=f"test, epoch {epoch}", comm=self.comm)
            selected_weights = weights_record(best, model.digest, model.updates)
        validation = {r["epoch"]: r["val_video_error"] for r in self.history if "val_video_error" in r}
        stopped = (f"--max-steps {self.config['max_steps']} at update {self.updates}, after batch "
                   f"{self.loader.position} of {len(self.loader)} of epoch {last_epoch}") if last_epoch > self.epoch else None
        cut = {"stopped_by": stopped} if stopped else {}  # said in the report of each epoch cut short
        last = {**last, **last_weights, **cut}
        selected = {**selected, **selected_weights, **(cut if epoch == last_epoch else {})}
        selected, last = protocol_reports(epoch, selected, last_epoch, last, self.val_groups, validation)
        if self.is_root:
            made = {"test_videos": test_videos(self.config), **rerun_record(self.config, self.datasets())}
            # eval/ last: its metrics.json says the run is finished (reproduce), so never without eval-last/
            write_report({**last, **made}, self.classes, os.path.join(self.run_dir, "eval-last"))
            write_report({**selected, **made}, self.classes, os.path.join(self.run_dir, "eval"))
            cut = f", cut short by {stopped}" if stopped else ""
            print(f"test split, epoch {epoch} of {last_epoch}{cut if epoch == last_epoch else ''} (selected by "
                  f"{selected['selected_by']}): {summary(selected)}", flush=True)
            if epoch != last_epoch:
                print(f"test split, last epoch ({last_epoch}{cut}): {summary(last)}", flush=True)
        return selected

    # hooks the loop calls ------------------------------------------------------
    def timed(self, loader):
        return self.throughput.timed(loader)

    def stop_signal(self):
        """1.0 when this process received a signal asking the run to stop."""
        return float(bool(self.signals.received))

    def trains_more(self):
        return trains_more(self.config, self.epoch, self.updates)

    def reached_max_steps(self):
        return max_steps_reached(self.config, self.updates)

    def kept(self):
        """What a failed run leaves, as it is."""
        if self.saved_at is None:
            return (f"no checkpoint was written yet, so {self.run_dir} is removed" if self.removed_on_failure
                    else f"no checkpoint was written yet in {self.run_dir}")
        epoch, update, _ = self.saved_at
        return f"{os.path.join(self.run_dir, 'checkpoint.npz')} (epoch {epoch}, update {update}) is kept as it was"

    def check_loss(self, value):
        if not math.isfinite(value):
            raise TrainingError(f"non-finite loss ({value}) at update {self.updates + 1}, epoch {self.epoch + 1}; "
                                f"{self.kept()}")

    def after_batch(self, chunks, loss_sum):
        tinyrandom.next_step()  # the GPU's dropout masks of the next batch: the same in a run resumed before it
        self.throughput.clips += int(chunks)
        self.bar.note = self.job.note(self.updates / max(self.total_updates, 1))
        self.bar.update(1, **({"loss": loss_sum / chunks} if chunks else {}), upd=self.updates)

    def after_update(self, loss):
        """Refuse non-finite weights, warn once on divergence, log (every --log-every updates, and the last)."""
        self.check_weights(loss)
        if self.is_root and (self.updates % self.config["log_every"] == 0 or self.reached_max_steps()):
            self.log.write({"kind": "step", "epoch": self.epoch + 1, "update": self.updates, "loss": loss,
                            "lr": self.optimizer.lr, **self.throughput.record(), **memory_mb()})

    def check_weights(self, loss):
        """Stop at the first update that makes a weight or statistic non-finite; warn once when the
        run diverges (its loss far above its first update's, or a weight beyond DIVERGENCE_WEIGHT)."""
        state = {name: t.data for name, t in self.model.state_dict(keep_vars=True).items()}
        names = [name for name, a in state.items() if a.dtype.kind == "f"]
        xp = backend.xp_of(state[names[0]])
        largest = dict(zip(names, backend.to_numpy(xp.stack([xp.abs(state[n]).max() for n in names]))))  # one transfer
        bad = next((name for name, m in largest.items() if not numpy.isfinite(m)), None)
        if bad is not None:
            raise TrainingError(f"update {self.updates} (epoch {self.epoch + 1}) made {bad} non-finite (NaN or "
                                f"infinite; the loss was {loss:.4g}); {self.kept()}; try a lower learning rate "
                                f"({self.setting_flag('lr')})")
        if self.first_loss is None:
            self.first_loss = loss
        weight = max(largest[name] for name, _ in self.model.named_parameters())
        if not self.warnings and (loss > self.DIVERGENCE_LOSS_FACTOR * self.first_loss
                                  or weight > self.DIVERGENCE_WEIGHT):
            self.warnings.append(f"the run is diverging at update {self.updates}: loss {loss:.4g} (first update "
                                 f"{self.first_loss:.4g}), largest weight {weight:.3g}; try a lower learning rate "
                                 f"({self.setting_flag('lr')})")
            if self.is_root:
                print(f"\nwarning: {self.warnings[-1]}", file=sys.stderr, flush=True)
                self.log.write({"kind": "warning", "epoch": self.epoch + 1, "update": self.updates,
                                "warning": self.warnings[-1]})

    # checkpoints ------------------------------------------------------------------
    @property
    def per_rank_statistics(self):
        """Whether each rank keeps batch-norm statistics of its own chunks (several ranks, neither --sync-bn nor
        --freeze-bn)."""
        return self.comm.size > 1 and not self.config["sync_bn"] and not self.config["freeze_bn"]

    def make_ranks_agree(self):
        """Before evaluation and checkpoints: equal BN statistics on every rank (unless they already are)
        and every rank's bad videos known to all. Nothing changes on one process."""
        if self.per_rank_statistics:
            parallel.average_buffers(self.model, self.comm)  # per-rank BN statistics -> their mean
        for path in sorted(set().union(*self.comm.allgather(self.loader.bad_videos))):
            self.loader.mark_bad(path, "bad on another rank", warn=False)

    # what save() writes into a checkpoint's metadata: resuming refuses a checkpoint without one, or with a
    # value of another type (an older tinyrrn's, or a damaged file), naming the key
    RESUME_META = {"config": dict, "classes": list, "epoch": int, "updates": int, "observed": int,
                   "loss_sum": (int, float), "best_error": (int, float, type(None)), "best_epoch": (int, type(None)),
                   "val_groups": list, "history": list, "optimizer": dict, "loader": dict, "random": dict,
                   "ranks": int, "dropped": list, "total_updates": int, "first_loss": (int, float, type(None)),
                   "warnings": list, "log_bytes": int}

    def save(self, *names):
        """Write a checkpoint into each of ``names`` in turn (default checkpoint.npz; rank 0, called on every rank);
        returns the first's path. It holds each rank's accumulated gradients and, with per-rank BN statistics, each
        rank's own buffers as they were before averaging (in mid-epoch they differ), so that the same ranks resume
        bit for bit; and the length of metrics.jsonl. A new best.npz comes after checkpoint.npz, which already
        names it selected: a run stopped between the two resumes from the checkpoint and writes best.npz again
        (recover_best); a run without checkpoint.npz has written nothing worth keeping."""
        names = names or ("checkpoint.npz",)
        own = self.comm.gather({k: backend.to_numpy(b.data).copy() for k, b in self.model.named_buffers()}
                               if self.per_rank_statistics else {})
        self.make_ranks_agree()
        model = {k: backend.to_numpy(v.data) for k, v in self.model.state_dict().items()}
        digest = checkpoint.weights_digest(model)
        if "best.npz" in names:
            self.best_digest = digest
        arrays = {f"model/{k}": v for k, v in model.items()}
        optimizer = self.optimizer.state_dict()  # every rank's gradients are gathered on rank 0
        if self.is_root:
            for i, buffers in optimizer["buffers"].items():
                arrays.update({f"optim/{i}/{name}": v for name, v in buffers.items()})
            for rank, gradients in enumerate(optimizer["gradients"]):
                arrays.update({f"rank{rank}/grad/{i}": g for i, g in gradients.items()})
            for rank, buffers in enumerate(own):
                arrays.update({f"rank{rank}/buffer/{k}": b for k, b in buffers.items()})
            self.log.sync()  # on the disk before the checkpoint that counts its bytes
            meta = {"config": self.config, "classes": self.classes, "epoch": self.epoch, "updates": self.updates,
                    "observed": optimizer["observed"], "loss_sum": optimizer["loss_sum"],
                    "best_error": self.best_error, "best_epoch": self.best_epoch, "val_groups": self.val_groups,
                    "digest": digest, "best_digest": self.best_digest,
                    "history": self.history,
                    "optimizer": {"steps": optimizer["steps"], "lr": optimizer["lr"],
                                  "param_steps": optimizer["param_steps"]},
                    "loader": self.loader.state_dict(), "random": tinyrandom.get_state(), "ranks": self.comm.size,
                    "dropped": self.train_set.bad_videos, "total_updates": self.total_updates,
                    "first_loss": self.first_loss, "warnings": self.warnings, "log_bytes": self.log.size(),
                    "videos": self.videos, rundir.RUN_KEY: self.run_id}
            for name in names:  # non-finite arrays are refused: the previous file stays
                checkpoint.save(os.path.join(self.run_dir, name), arrays, meta)
                if name == "checkpoint.npz":  # kept, and said to be, if writing best.npz then fails
                    self.saved_at = (self.epoch, self.updates, digest)
        self.comm.barrier()  # the files are complete before any rank goes on (and may read them)
        if "checkpoint.npz" in names:
            self.saved_at = (self.epoch, self.updates, digest)
        return os.path.join(self.run_dir, names[0])

    def restore(self, arrays, meta, path):
        """Continue from a checkpoint written by save() (read on every rank), with the same ranks and
        classes; its metadata (RESUME_META) and settings were checked before (see ``train``)."""
        if meta["ranks"] != self.comm.size:
            raise UsageError(f"{path}: written by {meta['ranks']} rank(s); resume it with the same number of "
                             f"ranks, not {self.comm.size} (the number of ranks defines the run)")
        check_classes(meta["classes"], self.classes, os.path.join(self.train_set.list_dir, "classInd.txt"))
        if "videos" in meta:  # (not in checkpoints written before the data was recorded)
            self.comm.on_root(self.refuse_changed_data, meta["videos"], path)
            self.videos = meta["videos"]
        try:
            self.model.load_state_dict(checkpoint.prefixed(arrays, "model"))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        live = dict(self.model.named_buffers())
        for name, value in checkpoint.prefixed(arrays, f"rank{self.comm.rank}/buffer").items():  # this rank's own
            if name not in live or live[name].shape != value.shape:
                raise checkpoint.CheckpointError(f"{path}: holds rank{self.comm.rank}/buffer/{name}, no buffer of "
                                                 "the model (or of another shape)")
            buffer = live[name].data  # in place, in the buffer Tensor's array
            buffer[...] = backend.xp_of(buffer).asarray(value)
            live[name].version += 1
        buffers = {str(i): {} for i in range(len(self.optimizer.params))}
        for name, value in checkpoint.prefixed(arrays, "optim").items():
            index, _, key = name.partition("/")
            if index not in buffers or not key:
                raise checkpoint.CheckpointError(f"{path}: holds optim/{name}, the optimiser state of no parameter of "
                                                 f"the model (it has {len(buffers)})")
            buffers[index][key] = value
        took = meta["optimizer"].get("param_steps")  # with Adam, a parameter that took a step has its moments
        took = took if isinstance(took, list) else []  # (not a list: refused by the optimiser below)
        lost = next((i for i, steps in enumerate(took) if steps and not buffers.get(str(i))), None)
        if meta["config"]["optimizer"] == "adam" and lost is not None:  # (SGD's momentum may be set on resuming)
            raise checkpoint.CheckpointError(f"{path}: holds no optimiser state of parameter {lost} (optim/{lost}/...), "
                                             f"which took {took[lost]} update(s)")
        gradients = [checkpoint.prefixed(arrays, f"rank{r}/grad") for r in range(self.comm.size)]
        if meta["observed"] and not any(gradients):  # what a rank observed since the last update is in its gradients
            raise checkpoint.CheckpointError(f"{path}: holds no accumulated gradients (rank0/grad/...), though "
                                             f"{meta['observed']} chunk(s) were observed since the last update")
        listed = set(self.train_set.paths)
        unknown = next((p for p in meta["dropped"] if not isinstance(p, str) or p not in listed), None)
        if unknown is not None:
            raise checkpoint.CheckpointError(f"{path}: its metadata's 'dropped' names {unknown!r}, not a video of "
                                             f"the training list {self.train_set.list_file}")
        self.train_set.drop(meta["dropped"])  # the plan of the epoch the checkpoint is in
        for key, apply in (("optimizer", lambda: self.optimizer.load_state_dict({
                                **meta["optimizer"], "buffers": buffers, "observed": meta["observed"],
                                "loss_sum": meta["loss_sum"], "gradients": gradients})),
                           ("loader", lambda: self.loader.load_state_dict(meta["loader"])),
                           ("random", lambda: tinyrandom.set_state(meta["random"]))):
            try:
                apply()
            except PlanChanged as err:  # no copy of the checkpoint would help: the data is what changed
                raise UsageError(f"{self.train_set.list_file}: {err}; nothing was changed: put the videos and split "
                                 "lists back as they were to resume the run, or start a new run") from None
            except (ValueError, KeyError, TypeError) as err:  # a damaged entry
                problem = f"has no {err}" if isinstance(err, KeyError) else cli.describe(err)
                raise checkpoint.CheckpointError(f"{path}: its metadata's {key!r} {problem}") from None
        self.epoch, self.history = meta["epoch"], meta["history"]
        self.best_error, self.best_epoch = meta["best_error"], meta["best_epoch"]
        self.best_digest = meta.get("best_digest")  # None in checkpoints written before digests
        self.first_loss, self.warnings = meta["first_loss"], meta["warnings"]
        self.saved_at = (self.epoch, self.updates, checkpoint.weights_digest(checkpoint.prefixed(arrays, "model")))
        self.plan_updates()
        if (meta["config"]["epochs"], meta["config"]["max_steps"]) == (self.config["epochs"], self.config["max_steps"]):
            self.total_updates = meta["total_updates"]  # the same schedule as before the stop
        if self.is_root:
            self.log.truncate(meta["log_bytes"])  # records written after this checkpoint are done again
            if self.log.size() < meta["log_bytes"]:  # (appends are not synced: a crash, or a file lost since)
                print(f"warning: {self.log.path}: holds {self.log.size()} bytes of the {meta['log_bytes']} that "
                      f"{path} records: the records of the training before it are lost from the log and the "
                      "training curve; the run goes on", file=sys.stderr, flush=True)
        if self.val_set is not None and self.best_epoch is not None:
            self.recover_best(meta["observed"])

    def recover_best(self, observed):
        """On resuming: when best.npz (the selected epoch's weights) cannot be read, or holds other weights
        than the checkpoint says were selected (a run stopped between writing checkpoint.npz and best.npz left
        those of an earlier epoch, or none; or the file was replaced), warn, naming it, and select again among the
        epochs whose weights are kept -- the checkpoint's epoch when the checkpoint is at that epoch's end
        (nothing was ``observed`` after it; best.npz is written again from it), and the epochs trained from now on;
        else best.npz is moved aside to best.npz.stale, so that nothing takes it for the run's weights."""
        best = os.path.join(self.run_dir, "best.npz")

        def problem():  # rank 0 reads
            try:
                arrays, meta = checkpoint.load(best)
            except checkpoint.CheckpointError as err:
                return str(err)
            if self.best_digest is not None and \
                    checkpoint.weights_digest(checkpoint.prefixed(arrays, "model")) != self.best_digest:
                return (f"{best}: holds the weights of epoch {meta.get('epoch')} (update {meta.get('updates')}), "
                        f"not those of the selected epoch {self.best_epoch} that checkpoint.npz records (left by a "
                        "run stopped between writing the two)")
        reason = self.comm.on_root(problem)
        if reason is None:
            return
        lost, last = self.best_epoch, self.history[-1]
        at_epoch_end = last["update"] == self.updates and not observed
        self.best_error, self.best_epoch = (last["val_video_error"], self.epoch) if at_epoch_end else (None, None)
        stale = not at_epoch_end and self.is_root and os.path.isfile(best)
        if self.is_root:
            kept = (f"epoch {self.epoch} (checkpoint.npz, written to best.npz again) and " if at_epoch_end else "")
            aside = (f"; it is moved aside to {best}.stale: the run's weights are those of checkpoint.npz until an "
                     "epoch is selected" if stale else "")
            print(f"warning: {reason}; it held the selected epoch {lost}: the epoch is selected again among "
                  f"{kept}the epochs trained from now on{aside}", file=sys.stderr, flush=True)
        if stale:  # never the run's default weights (builders.checkpoint_file) for evaluate, predict or a report
            os.replace(best, best + ".stale")
        if at_epoch_end:
            self.save("best.npz")


# -- the job ------------------------------------------------------------------------
def check_resume_values(path, meta):
    """Refuse checkpoint metadata whose values (Trainer.RESUME_META checked their types) no run has: a count below
    0, a best epoch not done, a loss that is not finite, a history record that is no epoch's; naming the key."""
    def finite_or_none(value):
        return value is None or math.isfinite(value)

    def epoch_record(record):
        return (isinstance(record, dict) and all(isinstance(record.get(key), int) and record[key] >= 0
                                                 for key in ("epoch", "update"))
                and isinstance(record.get("val_video_error", 0), (int, float)))

    rules = [(key, lambda value: value >= 0, "a count (0 or more)")
             for key in ("epoch", "updates", "observed", "total_updates", "log_bytes")]
    rules += [("best_epoch", lambda value: value is None or 1 <= value <= meta["epoch"],
               f"an epoch done (1 to {meta['epoch']}) or null"),
              ("loss_sum", math.isfinite, "a finite number"),
              ("best_error", finite_or_none, "a finite number or null"),
              ("first_loss", finite_or_none, "a finite number or null"),
              ("warnings", lambda value: all(isinstance(text, str) for text in value), "a list of texts"),
              ("val_groups", lambda value: all(isinstance(group, int) for group in value), "a list of group numbers")]
    for key, fits, what in rules:
        if not fits(meta[key]):
            raise checkpoint.CheckpointError(f"{path}: its metadata's {key!r} is {json.dumps(meta[key])[:40]}, "
                                             f"not {what}")
    if not isinstance(meta.get(rundir.RUN_KEY), (str, type(None))):  # (absent from checkpoints of an older tinyrrn)
        raise checkpoint.CheckpointError(f"{path}: its metadata's {rundir.RUN_KEY!r} is "
                                         f"{json.dumps(meta[rundir.RUN_KEY])[:40]}, not the run's identity (text)")
    for record in meta["history"]:
        if not epoch_record(record):
            raise checkpoint.CheckpointError(f"{path}: its metadata's 'history' holds {json.dumps(record)[:60]}, not "
                                             "an epoch's record (its epoch, update and validation error)")


@contextlib.contextmanager
def refused_as_damaged():
    """A checkpoint refused on resuming (truncated, damaged, of an older tinyrrn): said to have changed nothing."""
    try:
        yield
    except checkpoint.CheckpointError as err:
        raise checkpoint.CheckpointError(f"{err}; nothing was changed: put back a whole copy of the file to "
                                         "resume the run") from None


def train_flag(key):
    """The flag of python -m tinyrrn.train that sets ``key`` (lr: --lr)."""
    return f"--{key.replace('_', '-')}"


def continue_command(run_dir):
    """The command that continues the run (or the main job) in ``run_dir``, as the messages name it: one to paste
    into a shell, also when the path holds spaces or quotes."""
    return f"python -m tinyrrn.train --resume {shlex.quote(run_dir)}"


def train(config, run_dir=None, resume=False, comm=None, job=None, made=None, resume_command=None,
          setting_flag=None):
    """Train one model (on the ranks of ``comm``, default one process); returns (final metrics, run_dir).

    The run directory is locked while it trains. ``resume``: continue from its checkpoint.npz,
    whose settings must be the ones that define ``config``; the others (tinyrrn.config.MAY_CHANGE)
    are taken from ``config``, said and recorded in config.json. A signal writes a checkpoint and
    raises signals.Interrupted. ``job`` (a JobClock): the job this run is part of, for its progress line.
    ``made``: what rundir.new_run_dir made for ``run_dir`` (without ``run_dir``, a new one is made here).
    ``resume_command``: what continues this run, named in the messages that say how to go on (default --resume
    of ``run_dir``; the main job's for its baseline: --resume of the baseline's own folder would train it alone
    and never print the comparison; reproduce's for a row). ``setting_flag``: how the user changes a setting,
    from its key (default ``train_flag``).
    """
    comm = comm if comm is not None else parallel.Communicator()
    if run_dir is None:
        run_dir, made = comm.on_root(rundir.new_run_dir, config)
    resume_command = resume_command or continue_command(run_dir)
    path = os.path.join(run_dir, "checkpoint.npz")
    # a new run that fails before its first checkpoint leaves nothing behind (never a folder it did not make)
    if made is None and not resume and not comm.on_root(os.path.exists, run_dir):
        made = comm.on_root(rundir.create, run_dir)
    lock = rundir.RunLock(run_dir)
    finished, undo = False, None
    try:
        holder = comm.on_root(lock.acquire)  # a second process writing into this run directory is refused
        if made is not None and comm.size > 1:  # a rank that stops every rank before rank 0's finally removes it
            undo = functools.partial(rundir.remove_unfinished_of, run_dir, made, holder)
            comm.before_abort.append(undo)
        if comm.on_root(rundir.resumable, run_dir) != resume:  # asked under the lock: the folder is this process's
            raise UsageError(f"{path}: no checkpoint to resume from ({run_dir} holds no run)" if resume else
                             f"{run_dir}: holds a run already (its checkpoint.npz): resume it with "
                             f"{resume_command}, or start a new run in another folder")
        with refused_as_damaged():
            saved = comm.on_root(checkpoint.load, path) if resume else None  # read once, sent to every rank
            if resume:
                checked_resume_meta(path, saved[1])
        changes = comm.on_root(_changes_on_resume, config, run_dir, saved[1]) if resume else None
        run_id = changes["run"] if resume else comm.on_root(rundir.new_run_id)
        trainer = Trainer(config, run_dir, comm=comm, removed_on_failure=made is not None, job=job, resuming=resume,
                          resume_command=resume_command, setting_flag=setting_flag, run_id=run_id)
        if resume:
            with refused_as_damaged():  # restore writes nothing before every entry is read
                trainer.restore(*saved, path)
        if comm.is_root:
            if not (changes and changes["finished"]):  # only now: a resume that fails leaves config.json as it was
                rundir.write_config(run_dir, config, changes["all"] if changes else (), run_id)
            ranks = f", {comm.size} ranks of {-(-config['batch'] // comm.size)} chunks" if comm.size > 1 else ""
            skip = ("no temporal skip" if config["skip"] == "none" else f"{config['skip']} skip at "
                    + describe_positions(trainer.model.backbone, trainer.model.positions))
            print(f"{trainer.job.label()}in {run_dir}: {config['arch']}, {skip}, T = {config['context']} | "
                  f"{len(trainer.train_set)} training chunks of {len(trainer.train_set.videos)} videos; "
                  f"{describe_updates(trainer.update_size, config['batch'], config['update_every'])}; "
                  f"{trainer.total_updates} updates in {config['epochs']} epochs{ranks}", flush=True)
            print(write_validation_groups(trainer), flush=True)
            if resume and not trainer.trains_more():
                done = (f"epoch {trainer.epoch} of {config['epochs']}" if trainer.epoch >= config["epochs"]
                        else f"--max-steps {config['max_steps']} reached")
                print(f"the run is finished ({done}, update {trainer.updates}): nothing is left to train; its test "
                      "evaluation runs again", flush=True)
            if resume and trainer.trains_more():
                print(resuming_at(trainer) + (f", with {configuration.describe_changes(changes['now'])}"
                                              if changes["now"] else ""), flush=True)
            elif changes and changes["now"]:
                print(f"resuming at update {trainer.updates} (epoch {trainer.epoch}) with "
                      f"{configuration.describe_changes(changes['now'])}"
                      + (" (the run is finished: for its final evaluation only, not recorded in config.json)"
                         if changes["finished"] else ""), flush=True)
        try:
            metrics = trainer.run()
        except OSError as err:  # a full disk, a file-size limit: the file named, and what is kept
            if trainer.saved_at and not os.path.isfile(path):  # the folder itself was lost: nothing is kept
                raise
            resume_hint = f"; once fixed, continue with {resume_command}" if trainer.saved_at else ""
            raise TrainingError(f"{cli.describe(err)}; {trainer.kept()}{resume_hint}") from None
        finished = True
        if undo is not None:
            comm.before_abort.remove(undo)
        return metrics, run_dir
    finally:
        if comm.is_root:
            lock.release()
            if made is not None and not finished and not os.path.isfile(path):
                rundir.remove_unfinished(run_dir, made)


def resuming_at(trainer):
    """Where a resumed run goes on: 'resuming at update 78 of 102: epoch 3/3 from batch 11 of 34'."""
    batch = trainer.loader.position
    where = f"from batch {batch + 1} of {len(trainer.loader)}" if batch else "from its start"
    return (f"resuming at update {trainer.updates} of {trainer.total_updates}: epoch {trainer.epoch + 1}/"
            f"{trainer.config['epochs']} {where}")


def write_validation_groups(trainer):
    """Write RUN_DIR/val_groups.txt (when groups are held out) and return one line on the protocol."""
    if trainer.val_set is None:
        return ("validation: none (--val-groups 0): training on the whole training list; the last epoch is "
                "reported on the test split")
    config, groups = trainer.config, [f"g{g:02d}" for g in trainer.val_groups]
    split_file = f"trainlist{config['split']:02d}.txt"
    write_text(os.path.join(trainer.run_dir, "val_groups.txt"),
               f"# whole groups of {split_file} held out for validation (--val-groups {config['val_groups']}, "
               f"--seed {config['seed']}): {len(trainer.val_set.videos)} videos; the epoch is selected on them\n"
               + "".join(f"{g}\n" for g in groups))
    return (f"validation: groups {', '.join(groups)} of {split_file} ({len(trainer.val_set.videos)} videos, "
            f"listed in val_groups.txt) select the epoch; the test split is evaluated at the end only")


def refuse_resume_changes(config, run_dir):
    """The UsageError of _changes_on_resume for resuming ``run_dir`` (when it holds a checkpoint) with ``config``."""
    path = os.path.join(run_dir, "checkpoint.npz")
    if os.path.isfile(path):
        with refused_as_damaged():
            meta = checkpoint.load(path)[1]
            checked_resume_meta(path, meta)
        _changes_on_resume(config, run_dir, meta)


def checked_resume_meta(path, meta):
    """Refuse a checkpoint's metadata that no run can resume from: its kinds, values and settings (named)."""
    checkpoint.check_meta(path, meta, Trainer.RESUME_META)
    check_resume_values(path, meta)
    saved_settings(path, meta)


def _changes_on_resume(config, run_dir, meta):
    """The settings ``config`` changes in the run's checkpoint (``meta``): refused when they define
    the run, or ask for fewer epochs than are done, or change the training of a finished run (nothing is
    left to train: they would change nothing); else {'now': those, 'all': every change so far, for
    config.json, 'finished': whether the run is finished, its config.json then staying as it is, that of
    its weights, 'run': the run's identity}. A checkpoint of another run than config.json's (copied in) is refused:
    resumed, it would cut this run's log to the other's length and replace its best.npz."""
    path = os.path.join(run_dir, "checkpoint.npz")
    unknown = [key for key in configuration.DEFINES_RUN if key not in meta["config"]]
    if unknown:  # e.g. a run from before --val-groups: it selected its epoch on the test split
        raise UsageError(f"{path}: written by an older tinyrrn, before the setting(s) {', '.join(unknown)} existed, "
                         "so it cannot be resumed as it was; start a new run (evaluate and predict still read it)")
    refused, applied = configuration.resume_changes(meta["config"], config)
    if refused:
        raise UsageError(f"{path}: resuming would change settings that define the run: "
                         f"{configuration.describe_changes(refused)} (from the command line, an edited "
                         "config.json, or for a main job's baseline the frame-wise settings an older tinyrrn did not "
                         "give it); start a new run for other settings")
    for flag, asked, done, what in (("--epochs", config["epochs"], meta["epoch"], "epochs"),
                                     ("--max-steps", config["max_steps"], meta["updates"], "updates")):
        if asked is not None and asked < done:
            raise UsageError(f"{path}: {done} {what} are done already, more than {flag} {asked}; "
                             f"resume with {flag} {done} or more")
    previous, run_id = (rundir.read_config(run_dir)[1:] if os.path.isfile(os.path.join(run_dir, "config.json"))
                        else ([], None))
    recorded = meta.get(rundir.RUN_KEY)
    if recorded is not None and run_id is not None and recorded != run_id:
        raise UsageError(f"{path}: the checkpoint of another run than {os.path.join(run_dir, 'config.json')}'s (run "
                         f"{recorded}, not {run_id}): copied in from another run's folder? Resuming it would replace "
                         "this run's log and best.npz; nothing was changed. Resume the run it came from, or a copy of "
                         "that run's whole folder")
    now = {key: change for key, change in applied.items() if key not in ("name", "out")}
    finished = not trains_more(config, meta["epoch"], meta["updates"])
    training = {key: change for key, change in now.items() if key not in configuration.BOOKKEEPING}
    if finished and training:
        raise UsageError(f"{run_dir}: the run is finished (epoch {meta['epoch']} of {config['epochs']}, update "
                         f"{meta['updates']}): {configuration.describe_changes(training)} would change nothing; "
                         "resume without them to evaluate it again, or with a higher --epochs (or --max-steps) "
                         "to train on")
    entry = {"update": meta["updates"], "epoch": meta["epoch"], "settings": {k: list(v) for k, v in now.items()}}
    return {"now": now, "all": previous + ([entry] if now else []), "finished": finished,
            "run": recorded or run_id or rundir.new_run_id()}


def refuse_preset_on_synthetic_data(preset):
    """The error for a paper preset without --data, naming the command that trains the same model
    on the synthetic data. Only this command refuses: tinyrrn.reproduce adapts every preset."""
    values = configuration.PRESETS[preset]
    flags = [f"--skip {values['skip']}"]
    if values["skip"] != "none":
        with backend.device_scope("cpu"):  # only its unit names are read (TINYRRN_DEVICE may name no GPU)
            backbone = ARCHITECTURES[configuration.fill_defaults(configuration.DEFAULTS)["arch"]](num_classes=2)
        units = (default_positions(backbone, values["context"]) if values.get("positions") is None
                 else [resolve_position(backbone, p) for p in values["positions"]])
        names = {unit: alias for alias, unit in position_aliases(backbone).items()}
        flags.append("--positions " + " ".join(names.get(unit, unit) for unit in units))
    if values["context"] != configuration.DEFAULTS["context"]:
        flags.append(f"--context {values['context']}")
    if values["skip"] == "none":
        flags.append("--no-baseline")  # the comparison run would be the same model
    return UsageError(f"--preset {preset} is a row of the paper on UCF-101 (ResNet-50, 224x224 crops): give "
                      f"--data UCF101_ROOT; on the synthetic data the same model is: python -m tinyrrn.train "
                      f"{' '.join(flags)}")


@cli.command(several_ranks=True)
def main(argv=None):
    # under a launcher it detects, every rank joins MPI first: a rank that refuses its flags stops the others too
    comm = parallel.init()
    with parallel.failure_guard(comm, show_traceback=cli.debugging(argv)):  # one rank failing stops all (no hang)
        given, resume, preset, from_file = configuration.requested(argv)
        if preset and not resume and given.get("data") is None:
            raise refuse_preset_on_synthetic_data(preset)
        if comm.size == 1 and given.get("distributed"):  # MPI under a launcher tinyrrn does not detect
            comm = parallel.init(force=True)
            with parallel.failure_guard(comm, show_traceback=cli.debugging(argv)):
                return _main(given, resume, comm, from_file)
        return _main(given, resume, comm, from_file)


def _main(given, resume, comm, from_file=None):
    """Train the configured model and (on synthetic data) the no-skip comparison; print both errors. ``from_file``:
    {setting: the --config file that gave it}, named by the errors of its value."""
    asked = {key: value for key, value in {**given, "resume": resume}.items() if key not in parallel.PER_RANK_SETTINGS}
    parallel.same_on_every_rank(comm, asked, "settings", "give every rank the same command and TINYRRN_DEVICE "
                                "(only --workers, --threads and --cache-dir may differ)")
    if resume:  # the run's settings, with what the command line asks for (checked against the checkpoint)
        comm.on_root(rundir.refuse_other_run, resume, "--resume")
        saved = comm.on_root(rundir.read_config, resume)[0]
        configuration.check_run_settings(os.path.join(resume, "config.json"), saved)
        back = "a run's data cannot change: put it back there (or a link to it) to resume the run"
        comm.on_root(check_recorded_folders, saved, os.path.join(resume, "config.json"),
                     {key: back for key in ("data", "list_dir") if key not in given})
        config = {**saved, **given}
        configuration.check_ranges(config)  # the values given, as for a new run, before anything is written
    else:
        config = configuration.fill_defaults({**configuration.DEFAULTS, **given})
    configuration.refuse_ignored(given, config)
    recorded = {key: os.path.join(resume, "config.json") for key in ("device", "threads")
                if resume and key not in given}  # named by their errors: no flag gave them
    cli.use_compute(config["device"], config["threads"], {**recorded, **(from_file or {})})
    if backend.get_device() == "gpu":
        comm.use_gpu()  # one GPU per rank, before anything is allocated
    if not resume:  # the paths given, before a run directory or a second process (rank 0 generates the synthetic data)
        with comm.root_first():
            dataset_root(config)
            check_weights(config)
    # a new run directory is made at once: a job started in the same second gets a folder of its own
    with cli.writing_into(config["out"]):
        run_dir, made = (resume, None) if resume else comm.on_root(rundir.new_run_dir, config)
    runs = [("temporal skip", config, run_dir)]
    if config["baseline"]:
        baseline = {**config, **frame_wise(config), "skip": "none", "positions": None, "baseline": False,
                    "name": config["name"] + "-baseline"}
        runs.append(("no skip (context 1)", baseline, os.path.join(run_dir, "baseline")))
    if resume:  # a setting refused for a run of the job, before either starts (a second process, its messages)
        for _, run_config, directory in runs:
            comm.on_root(refuse_resume_changes, run_config, directory)
    side_by_side = len(runs) > 1 and comm.size == 1 and backend.get_device() == "cpu" and threads.get_threads() > 1
    if comm.is_root and len(runs) > 1:
        how = ("side by side, in two processes" if side_by_side else "one after the other")
        print(f"this job trains {len(runs)} models, {how}: 1. the model with a temporal skip, in {run_dir}; "
              f"2. the same backbone without one (context 1), the baseline to compare with, in {runs[1][2]}"
              + (f" (its output: {run_dir}/baseline.log)" if side_by_side else "") + "; then it prints both test errors",
              flush=True)
    copy = "by resuming a copy of the run folder (cp -r RUN NEW; python -m tinyrrn.train --resume NEW)"
    with cli.writing_into(run_dir, copy) if resume else contextlib.nullcontext():
        results = train_side_by_side(runs, run_dir, made) if side_by_side else train_in_turn(runs, comm, made)
    if comm.is_root:
        rule = ("the lowest validation video error on the groups held out of the training list (val_groups.txt)"
                if config["val_groups"] else "--val-groups 0: the last epoch")
        print(f"\nvideo-level error on the test split, of the epoch selected by {rule}:")
        for label, metrics, directory in results:
            print(f"  {label:<22} {metrics['video_error']:.4f} (epoch {metrics['epoch']} of {metrics['epochs']}"
                  f"{otherwise(metrics)}); last epoch {metrics['last']['video_error']:.4f}   ({directory})")
        print("\n" + files_to_open(run_dir, config, baseline=len(runs) > 1))
    return 0


def otherwise(report):
    """How a run's reported epoch departs from the rule the job's summary names ('' when it does not): none was
    validated (--max-steps stopped the run first; its report's selected_by says which weights it took), or its
    weights were cut short in mid-epoch."""
    unvalidated = report.get("val_groups") and report.get("val_video_error") is None
    return "".join([f", selected by {report['selected_by']}" if unvalidated else "",
                    f", cut short by {report['stopped_by']}" if "stopped_by" in report else ""])


def frame_wise(config):
    """The settings that make the main job's baseline frame-wise, as the paper's: context 1 and every sampled
    frame a chunk of its own (a context-1 model given chunks of T frames would predict from their last frames
    only, and be averaged over 1/T of them), with batches, and updates given as a number of chunks, of the
    same frames as ``config``'s (T times as many chunks of one frame)."""
    chunk, update_every = config["chunk"], str(config["update_every"]).strip()
    if update_every.isdigit():  # a count of chunks (a percentage of the training chunks is the same share)
        update_every = str(int(update_every) * chunk)
    return {"context": 1, "chunk": 1, "batch": config["batch"] * chunk, "update_every": update_every}


def job_resumable(index, directory):
    """rundir.resumable for run ``index`` of the main job. Its baseline (1) lives in a folder the job makes itself:
    one without a checkpoint and without results (best.npz, eval/) was stopped at once before its first checkpoint,
    with the whole job (kill -9, the OOM killer, a power cut), and holds only what it wrote at its start. Nothing
    there can be resumed or is worth keeping, so it is removed (said) and the baseline trains from its beginning:
    the job's --resume goes on, to the same weights. A baseline that had results has lost its checkpoint: refused,
    saying how to train it again."""
    if index == 0:
        return rundir.resumable(directory)
    kept = ("checkpoint.npz", "config.json", "best.npz", "eval", "eval-last")
    if [name for name in kept if os.path.exists(os.path.join(directory, name))] != ["config.json"]:
        try:
            return rundir.resumable(directory)
        except UsageError as err:
            raise UsageError(f"{err}; or, to train the baseline again from its beginning, remove {directory} and "
                             "resume the job") from None
    rundir.RunLock(directory).check_free()  # never a folder another process writes into
    print(f"{directory}: no checkpoint yet (the job was stopped before the baseline's first one): its start is "
          "removed and the baseline trains from its beginning", file=sys.stderr, flush=True)
    shutil.rmtree(directory)
    return False


def train_in_the_job(job_dir, config, run_dir, *args, **kwargs):
    """``train`` for a run of the main job in ``job_dir``, its messages naming the job's --resume (see train's
    ``resume_command``). A signal that stopped it at once (in its start-up, or a second Ctrl-C) is given that command
    too, once the job has a checkpoint to go on from."""
    try:
        return train(config, run_dir, *args, resume_command=continue_command(job_dir), **kwargs)
    except signals.Interrupted as err:
        command = continue_command(job_dir)
        if "--resume" not in str(err) and os.path.isfile(os.path.join(job_dir, "checkpoint.npz")):
            err.args = (f"{err}; the checkpoints written so far are kept: continue with {command}",)
        raise


def train_in_turn(runs, comm, made=None):
    """Train each (label, config, run directory) of ``runs`` in turn (resuming those with a checkpoint);
    returns [(label, final metrics, run directory)]. ``made``: what rundir.new_run_dir made for the first."""
    results, job = [], JobClock(len(runs))
    resumable = [comm.on_root(job_resumable, i, d) for i, (_, _, d) in enumerate(runs)]  # all before either trains
    for index, (label, run_config, directory) in enumerate(runs):
        job.start_run(index)
        metrics, _ = train_in_the_job(runs[0][2], run_config, directory, resume=resumable[index], comm=comm,
                                      job=job, made=made if index == 0 else None)  # the baseline's: made by train
        results.append((label, metrics, directory))
    return results


def train_side_by_side(runs, run_dir, made):
    """The main job's two runs at once: the baseline (``runs[1]``, inside ``run_dir``) in a process
    beside this one (tinyrrn.beside), the threads split between the two. A new job (``made``: what
    rundir.new_run_dir made) that fails or is stopped before either run wrote a checkpoint leaves nothing behind."""
    (label, config, _), (other_label, other_config, other_dir) = runs
    total = threads.get_threads()
    try:
        for directory in (run_dir, other_dir):  # a folder in use: that error alone, before a process is started
            rundir.RunLock(directory).check_free()
        resumable = [job_resumable(i, d) for i, d in enumerate((run_dir, other_dir))]  # before either process starts
        dataset_root(config)  # checked, and the synthetic data generated, before two processes read it
        threads.set_threads(total - total // 2)
        shares = multiprocessing.get_context("spawn").Array("d", 2, lock=False)
        with RunBeside(train_in_the_job, (run_dir, other_config, other_dir, resumable[1], None, SharedClock(shares, 1)),
                       os.path.join(run_dir, "baseline.log"), total // 2, other_label,
                       continue_command(run_dir)) as other:
            clock = SharedClock(shares, 0, watch=other.check)
            metrics, _ = train_in_the_job(run_dir, config, run_dir, resume=resumable[0], job=clock)
            shares[0] = 1.0
            other_metrics, _ = other.wait(clock)
    except BaseException:
        if made is not None and not any(os.path.isfile(os.path.join(d, "checkpoint.npz")) for d in (run_dir, other_dir)):
            rundir.remove_unfinished(run_dir, made)
        raise
    finally:
        threads.set_threads(total)
    return [(label, metrics, run_dir), (other_label, other_metrics, other_dir)]


def files_to_open(run_dir, config, baseline=False):
    """The end of a job: the files of its run directory a user wants to open, and one command to try next."""
    files = [("training_curve.png", "training loss per update, validation error per epoch"),
             ("eval/confusion.png", "test confusion matrix of the selected epoch (eval-last/: of the last epoch)"),
             ("eval/metrics.json", "its test metrics; per_class.csv and confusion.csv beside it"),
             ("metrics.jsonl", "the log: loss, learning rate, clips/s, memory, validation error per epoch"),
             ("best.npz", "weights of the selected epoch; checkpoint.npz: of the last epoch")
             if os.path.isfile(os.path.join(run_dir, "best.npz")) else  # none validated before --max-steps
             ("checkpoint.npz", "weights of the last epoch")]
    if config["val_groups"]:
        files.append(("val_groups.txt", "the groups held out of the training list to select the epoch"))
    if os.path.isfile(os.path.join(run_dir, "bad_videos.txt")):
        files.append(("bad_videos.txt", "videos that could not be read, skipped"))
    width = max(len(os.path.join(run_dir, name)) for name, _ in files) + 2
    lines = ["files to open" + (f" (the baseline's are in {os.path.join(run_dir, 'baseline')}):" if baseline
                                else ":")]
    lines += [f"  {os.path.join(run_dir, name):<{width}}{what}" for name, what in files]
    video = example_video(config)
    lines.append(f"next, classify a video with this model: python -m tinyrrn.predict {shlex.quote(video)} "
                 f"--checkpoint {shlex.quote(run_dir)}")
    return "\n".join(lines)


def example_video(config):
    """The first test video of the run's split (a real path for the next command to try)."""
    root = dataset_root(config)
    list_dir = config["list_dir"] or os.path.join(root, "ucfTrainTestlist")
    return os.path.join(root, read_split(list_dir, config["split"])[2][0][0])


if __name__ == "__main__":
    sys.exit(main())
