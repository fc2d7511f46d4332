# Model zoo: trains `charlm`, a small character-level transformer language
# model on the English text of Debian's `fortunes` package, exports it as
# TorchScript (charlm.pt) with its charlm.json, and writes its evaluation set
# fortunes_test.h5 (held-out token sequences and next-character labels).
"""Character-level transformer language model on Debian's fortunes.

Corpus   every plain-text fortune file in /usr/share/games/fortunes (override
         with NNFI_FORTUNES; not *.dat / *.u8), in sorted file-name order.
         Overstrikes ("X<BS>Y") keep Y, a tab becomes one space, the `%`
         separator lines are removed; fortunes are joined with one empty line.
Split    fortune k (counted over all files in order) is held out when
         k % 10 == 9: 10 % of the fortunes, from every file.
Vocab    97 ids: 0 = <unk> (any other character), 1 = "\\n",
         2..96 = printable ASCII 32..126 (id = code - 30).
Model    token embedding + learned position embedding (T <= 64) ->
         nn.TransformerEncoder of nn.TransformerEncoderLayer (batch_first,
         norm_first, GELU) with a causal mask built inside forward ->
         LayerNorm -> Linear(D -> 97).
         input int64 token ids [N, T]; output float32 logits [N, T, 97]:
         position t predicts token t+1 from tokens 0..t.
Eval     next-character accuracy of the saved file (reloaded) on the whole
         held-out text in non-overlapping windows of T = 64, against the
         most-frequent-character and bigram baselines (counted on train).

Usage: train_charlm.py OUTDIR
"""
import hashlib
import math
import os
import re
import time

import numpy as np
import torch
import torch.nn as nn

import common

NAME = "charlm"
EVAL_FILE = "fortunes_test.h5"
SEED = 6
FORTUNES_DIR = os.environ.get("NNFI_FORTUNES", "/usr/share/games/fortunes")
SEQ = 64            # context length T (the eval set's and the position table's)
DIM = 96
HEADS = 4
LAYERS = 2
FFN = 384
STEPS = 1000
BATCH = 32
LR = 3e-3
WARMUP_STEPS = 50
EVAL_SEQUENCES = 256
HOLDOUT_EVERY = 10

UNK, NEWLINE, FIRST_PRINTABLE = 0, 1, 2
VOCAB = 2 + (126 - 32 + 1)                   # 97
ITOS = ["<unk>", "\n"] + [chr(c) for c in range(32, 127)]


# ---- corpus ---------------------------------------------------------------

def fortune_files():
    names = []
    for n in sorted(os.listdir(FORTUNES_DIR)):
        p = os.path.join(FORTUNES_DIR, n)
        if n.endswith((".dat", ".u8")) or not os.path.isfile(p) or os.path.islink(p):
            continue
        names.append(n)
    if not names:
        raise SystemExit(f"{NAME}: no fortune files in {FORTUNES_DIR} (Debian package `fortunes`)")
    return names


def read_fortunes(names):
    """[(file, text)] of every fortune, cleaned, in file order."""
    out = []
    for n in names:
        with open(os.path.join(FORTUNES_DIR, n), "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        text = text.replace("\r\n", "\n")
        text = re.sub(r".\x08", "", text)             # overstrike: keep the second char
        text = text.replace("\t", " ")
        for piece in re.split(r"^%[ \t]*\n", text, flags=re.M):
            piece = piece.strip("\n")
            if piece.strip():
                out.append((n, piece + "\n"))
    return out


def encode(text):
    b = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    ids = np.full(b.shape, UNK, dtype=np.int64)
    printable = (b >= 32) & (b <= 126)
    ids[printable] = b[printable] - 30
    ids[b == 10] = NEWLINE
    return ids


def corpus():
    names = fortune_files()
    fortunes = read_fortunes(names)
    train = [t for k, (_, t) in enumerate(fortunes) if k % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    test = [t for k, (_, t) in enumerate(fortunes) if k % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    return names, len(fortunes), encode("\n".join(train)), encode("\n".join(test))


def windows(ids, seq):
    """Non-overlapping (tokens, labels) windows [W, seq] covering ids."""
    w = (ids.shape[0] - 1) // seq
    x = ids[:w * seq].reshape(w, seq)
    y = ids[1:w * seq + 1].reshape(w, seq)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


# ---- model ----------------------------------------------------------------

class CharLM(nn.Module):
    def __init__(self, vocab=VOCAB, seq=SEQ, dim=DIM, heads=HEADS, layers=LAYERS, ffn=FFN):
        super().__init__()
        self.tok_embed = nn.Embedding(vocab, dim)
        self.pos_embed = nn.Embedding(seq, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=ffn, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        pos = torch.arange(t, device=tokens.device)
        x = self.tok_embed(tokens) + self.pos_embed(pos)
        # causal mask: position i attends to positions 0..i only
        mask = torch.triu(torch.full((t, t), float("-inf"), device=tokens.device), diagonal=1)
        x = self.encoder(x, mask=mask)
        return self.head(self.norm(x))


# ---- training / evaluation -----------------------------------------------

def train(model, ids, *, steps, lr, seed, batch_size, log):
    """AdamW, warm-up + cosine decay, random windows of SEQ+1 characters drawn
    from a torch.Generator seeded with (seed, step); returns seconds spent."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)

    def lr_at(step):
        if step < WARMUP_STEPS:
            return (step + 1) / WARMUP_STEPS
        return 0.5 * (1.0 + math.cos(math.pi * (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    data = torch.from_numpy(ids)
    offs = torch.arange(SEQ + 1)
    model.train()
    t0 = time.perf_counter()
    tot, correct, seen = 0.0, 0, 0
    for step in range(steps):
        g = torch.Generator()
        g.manual_seed(seed * 1000003 + step)
        starts = torch.randint(0, data.shape[0] - SEQ - 1, (batch_size,), generator=g)
        chunk = data[starts[:, None] + offs]                 # [B, SEQ+1]
        xb, yb = chunk[:, :-1], chunk[:, 1:]
        out = model(xb)
        loss = nn.functional.cross_entropy(out.reshape(-1, VOCAB), yb.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        tot += float(loss) * yb.numel()
        correct += int((out.argmax(-1) == yb).sum())
        seen += yb.numel()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            print(f"[{log}] step {step + 1}/{steps}: loss {tot / seen:.4f} train-acc "
                  f"{correct / seen:.4f} ({time.perf_counter() - t0:.1f}s)", flush=True)
            tot, correct, seen = 0.0, 0, 0
    model.eval()
    return time.perf_counter() - t0


@torch.inference_mode()
def logits_of(model, x, batch=256):
    return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def accuracy(logits, y):
    pred = logits.to(torch.float64).argmax(-1)
    return float((pred == y).to(torch.float64).mean())


def baselines(train_ids, y_prev, y):
    """Most-frequent-character and bigram (most frequent successor of the
    current character, counted on the training text) accuracies on y."""
    uni = np.bincount(train_ids, minlength=VOCAB)
    top = int(uni.argmax())
    big = np.zeros((VOCAB, VOCAB), dtype=np.int64)
    np.add.at(big, (train_ids[:-1], train_ids[1:]), 1)
    succ = torch.from_numpy(big.argmax(1))
    return ({"char": ITOS[top], "id": top, "accuracy": float((y == top).double().mean())},
            {"accuracy": float((succ[y_prev] == y).double().mean())})


def write_eval_h5(path, x, y, names, n_fortunes, n_test_fortunes):
    import h5py
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset("tokens", data=x.numpy(), dtype="int64")
        d.attrs["layout"] = "NT"
        d.attrs["meaning"] = "character ids (see the file attribute vocabulary), the model's input"
        d = f.create_dataset("labels", data=y.numpy(), dtype="int64")
        d.attrs["layout"] = "NT"
        d.attrs["meaning"] = "labels[n, t] = id of the character after tokens[n, t] (= tokens[n, t+1] " \
                             "inside a sequence)"
        f.attrs["dataset"] = "Debian fortunes (English text), character level"
        f.attrs["split"] = (f"held out: fortune k (over all files, sorted by name) with k % "
                            f"{HOLDOUT_EVERY} == {HOLDOUT_EVERY - 1}; {n_test_fortunes} of {n_fortunes} fortunes; "
                            f"{x.shape[0]} evenly spaced non-overlapping windows of the held-out text")
        f.attrs["source_dir"] = FORTUNES_DIR
        f.attrs["source_files"] = ", ".join(names)
        f.attrs["vocabulary"] = ("0 <unk>, 1 newline, 2..96 printable ASCII 32..126 "
                                 "(id = code - 30)")
        f.attrs["vocab_size"] = VOCAB
        f.attrs["unk_id"] = UNK
        f.attrs["seq_len"] = SEQ
        f.attrs["count"] = x.shape[0]
        f.attrs["input_dtype"] = "int64"
        f.attrs["output_layout"] = "N,T,C"
    os.replace(tmp, path)


def main():
    out = common.outdir_from_argv()
    common.setup(SEED)
    t_start = time.perf_counter()
    names, n_fortunes, train_ids, test_ids = corpus()
    n_test_fortunes = len(range(HOLDOUT_EVERY - 1, n_fortunes, HOLDOUT_EVERY))
    x_test, y_test = windows(test_ids, SEQ)
    print(f"[{NAME}] {len(names)} files, {n_fortunes} fortunes; train {train_ids.shape[0]} chars, "
          f"test {test_ids.shape[0]} chars ({x_test.shape[0]} windows of {SEQ})", flush=True)

    model = CharLM()
    train_s = train(model, train_ids, steps=STEPS, lr=LR, seed=SEED, batch_size=BATCH, log=NAME)
    eager_acc = accuracy(logits_of(model, x_test), y_test)

    scripted = torch.jit.script(model)
    path = os.path.join(out, NAME + ".pt")
    torch.jit.save(scripted, path)
    loaded = torch.jit.load(path, map_location="cpu")
    loaded.eval()
    t0 = time.perf_counter()
    logits = logits_of(loaded, x_test)
    eval_s = time.perf_counter() - t0
    if tuple(logits.shape) != (x_test.shape[0], SEQ, VOCAB):
        raise RuntimeError(f"{path}: logits shape {tuple(logits.shape)}, expected [N, {SEQ}, {VOCAB}]")
    acc = accuracy(logits, y_test)
    unigram, bigram = baselines(train_ids, x_test, y_test)

    # the campaign eval set: EVAL_SEQUENCES evenly spaced windows of the held-out text
    pick = torch.tensor([k * x_test.shape[0] // EVAL_SEQUENCES for k in range(EVAL_SEQUENCES)])
    x_eval, y_eval = x_test[pick].contiguous(), y_test[pick].contiguous()
    epath = os.path.join(out, EVAL_FILE)
    write_eval_h5(epath, x_eval, y_eval, names, n_fortunes, n_test_fortunes)
    with torch.inference_mode():
        lg_eval = loaded(x_eval).to(torch.float32).contiguous()
    eval_acc = accuracy(lg_eval, y_eval)
    lg = lg_eval.numpy()

    info = {
        "name": NAME,
        "kind": "character-level transformer language model",
        "architecture": f"token embedding ({VOCAB}x{DIM}) + learned position embedding ({SEQ}x{DIM}), "
                        f"nn.TransformerEncoder of {LAYERS} nn.TransformerEncoderLayer(d_model={DIM}, "
                        f"nhead={HEADS}, dim_feedforward={FFN}, gelu, batch_first, norm_first) with a "
                        f"causal mask made inside forward, LayerNorm, Linear({DIM}->{VOCAB})",
        "input": f"int64 token ids [N,T], T <= {SEQ}, ids in [0,{VOCAB})",
        "input_dtype": "int64",
        "input_shape": [SEQ],
        "output": f"logits float32 [N,T,{VOCAB}]; position t predicts the character after token t",
        "output_layout": "N,T,C",
        "export": "torch.jit.script",
        "parameters": common.count_params(model),
        "layers": LAYERS,
        "heads": HEADS,
        "d_model": DIM,
        "dim_feedforward": FFN,
        "seq_len": SEQ,
        "vocab_size": VOCAB,
        "vocabulary": {"ids": "0 <unk>, 1 newline, 2..96 printable ASCII 32..126 (id = code - 30)",
                       "unk_id": UNK, "tokens": ITOS,
                       "cleaning": "UTF-8 decoded; overstrike X<BS>Y keeps Y; tab -> space; "
                                   "any other character -> <unk>; `%` separator lines removed, "
                                   "fortunes joined by one empty line"},
        "corpus": {"source_dir": FORTUNES_DIR, "files": names, "fortunes": n_fortunes,
                   "split": f"fortune k (over all files, sorted by name) held out when k % "
                            f"{HOLDOUT_EVERY} == {HOLDOUT_EVERY - 1}",
                   "train_fortunes": n_fortunes - n_test_fortunes, "test_fortunes": n_test_fortunes,
                   "train_chars": int(train_ids.shape[0]), "test_chars": int(test_ids.shape[0]),
                   "test_unk_fraction": float((test_ids == UNK).mean())},
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "file_sha256": common.sha256_file(path),
        "test_accuracy": acc,
        "test_positions": int(y_test.numel()),
        "test_windows": int(x_test.shape[0]),
        "accuracy_of": "the saved TorchScript file, reloaded with torch.jit.load: next-character "
                       f"accuracy over every position of {x_test.shape[0]} non-overlapping windows of "
                       f"{SEQ} characters of the held-out text (argmax of float64 logits)",
        "baseline_most_frequent_char": unigram,
        "baseline_bigram": bigram,
        "eager_test_accuracy": eager_acc,
        "eval_seconds": round(eval_s, 3),
        "eval_file": EVAL_FILE,
        "eval_file_sha256": common.sha256_file(epath),
        "eval_file_layout": {"tokens": f"int64 [{EVAL_SEQUENCES},{SEQ}]",
                             "labels": f"int64 [{EVAL_SEQUENCES},{SEQ}]"},
        "eval_file_accuracy": eval_acc,
        "eval_file_logits_sha256_float32": hashlib.sha256(lg.tobytes()).hexdigest(),
        "eval_file_logits_seq0_pos0": [float(v) for v in lg[0, 0]],
        "training": {"steps": STEPS, "batch_size": BATCH, "sequence": SEQ,
                     "optimizer": "AdamW", "lr": LR, "weight_decay": 0.01, "grad_clip": 1.0,
                     "schedule": f"linear warm-up {WARMUP_STEPS} steps, cosine decay",
                     "train_characters_seen": STEPS * BATCH * SEQ},
        "training_seconds": round(train_s, 2),
        "script_seconds": round(time.perf_counter() - t_start, 2),
        **common.environment(SEED),
    }
    common.write_json(os.path.join(out, NAME + ".json"), info)
    print(f"[{NAME}] next-char accuracy {acc:.4f} (most frequent char {unigram['accuracy']:.4f}, "
          f"bigram {bigram['accuracy']:.4f}), {info['parameters']} parameters, "
          f"trained in {train_s:.1f}s")


if __name__ == "__main__":
    main()
