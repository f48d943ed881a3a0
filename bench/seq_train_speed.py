#!/usr/bin/python3
"""Training throughput of shelf's sequence encoders' model, in PyTorch (Debian's
python3-torch), on the same data, batches and threads: bench/seq_train_speed.sh sets it
next to `shelf train --text-encoder gru|transformer`.

usage: bench/seq_train_speed.py --train T.tsv --encoder gru|transformer [--dim 128]
         [--max-tokens 64] [--layers 2] [--heads 4] [--batch 32] [--epochs 1 | --steps N]
         [--threads 2] [--dropout 0] [--embedding-update lazy|dense]
         [--gru reversed|packed] [--seed 1]

The model, as src/model/seq_encoder.c builds it: embeddings [V][D], V = the tokens seen at
least twice in the training texts' first max-tokens tokens, 16,384 hashed buckets for the
others and 65,536 for subwords; each step the mean of up to 6 rows (nn.EmbeddingBag): the
token's, the bigram's it starts and up to 4 character 3-grams' (seq_subwords, the same
hashes); GRU: a bidirectional GRU, D per direction, padding taking no part
(shelf masks it): by default two nn.GRU(D, D), the backward one over each text's real
tokens reversed (the same function as one nn.GRU(bidirectional) over a packed batch,
which --gru packed uses, but several times faster on the CPU in torch 1.13); Transformer:
learned positions [T][D] added, `layers` nn.TransformerEncoderLayer(D, heads, 4D, gelu,
norm_first, batch_first, its own dropout 0) with src_key_padding_mask; then mean and max
pooling over the real tokens, concatenated, nn.Linear(2W, K); cross-entropy; AdamW (lr
0.002, weight decay 5e-4) with 5% warm-up and cosine decay. --dropout P puts nn.Dropout(P)
on the embeddings and on the pooled features. --embedding-update lazy (the default, as
shelf) moves only the embedding rows of the batch's tokens (a sparse gradient, the AdamW
step on those rows only); dense updates the whole table every step (a plain nn.Embedding
under torch.optim.AdamW).

The texts: the title and description columns (whichever exist) joined by a space;
tokenized as src/text/tokenize.c does, approximately (Python's unicodedata for utf8proc):
NFKC and case folding, each Han, kana, Hangul or Thai character a token, other tokens runs
of letters, marks and digits. Batches as src/train/seq_trainer.c's plan_epoch: shuffled,
sorted by decreasing length within chunks of 32 batches, taken in a shuffled order, each
padded to its longest text.

Timed: each training step (zeroing the gradients, forward, loss, backward, the optimizer
and learning-rate updates), not reading, tokenizing or building a batch's tensors. Prints
one line: `pytorch ENCODER texts N steps S seconds X texts/s Y tokens/s Z` (tokens: the
real, unpadded ones)."""
import argparse, collections, csv, math, sys, time, unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BUCKETS, MIN_COUNT, CHUNK_BATCHES, WARMUP_SHARE = 1 << 14, 2, 32, 0.05
SUBWORD_BUCKETS, CHAR_NGRAMS, SLOTS = 1 << 16, 4, 6  # seq_trainer.c, seq_encoder.h
FNV_BASIS = 0xcbf29ce484222325
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
M64 = (1 << 64) - 1


def is_cjk(cp):
    """src/text/tokenize.c's tok_is_cjk."""
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x3FFFF
            or 0xF900 <= cp <= 0xFAFF or 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF
            or 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x0E00 <= cp <= 0x0E7F)


def tokenize(text):
    """The tokens of a text, each (string, 1 if a single character of a script without
    spaces)."""
    s = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    out, word = [], []
    for ch in s:
        cat = unicodedata.category(ch)
        letter = cat[0] in "LMN"
        if letter and is_cjk(ord(ch)):
            if word:
                out.append(("".join(word), 0))
                word = []
            out.append((ch, 1))
        elif letter:
            word.append(ch)
        elif word:
            out.append(("".join(word), 0))
            word = []
    if word:
        out.append(("".join(word), 0))
    return out


def fnv1a(h, data):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def finish(h):
    """splitmix64's finalizer (hash_finish)."""
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & M64
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & M64
    return h ^ (h >> 31)


def token_hash(tok):
    """seq_token_hash: FNV-1a over the UTF-8 bytes, then the finalizer."""
    return finish(fnv1a(FNV_BASIS, tok.encode("utf-8")))


def char_grams(tok):
    """seq_subwords' character 3-grams of "<tok>": up to CHAR_NGRAMS, spread over it, as
    whole hashes (the caller takes them modulo the buckets)."""
    w, n = tok.encode("utf-8"), len(tok)
    at = [len(tok[:c].encode("utf-8")) for c in range(n)] + [len(w)]
    out = []
    for j in range(min(CHAR_NGRAMS, n)):
        g = j if n <= CHAR_NGRAMS else j * (n - 1) // (CHAR_NGRAMS - 1)
        h = fnv1a(FNV_BASIS, b"c")
        first, last = g - 1, g + 1
        if first < 0:
            h = fnv1a(h, b"<")
        h = fnv1a(h, w[at[max(first, 0)]:len(w) if last >= n else at[last + 1]])
        if last >= n:
            h = fnv1a(h, b">")
        out.append(finish(h))
    return out


def read_catalog(path):
    """(texts, labels) of a TSV or CSV catalog with a header, as shelf reads it by default:
    title, name, description (those present) joined by single spaces, label `category`."""
    csv.field_size_limit(1 << 30)
    with open(path, newline="", encoding="utf-8") as f:
        if path.endswith(".csv"):
            rows = csv.reader(f)
        else:
            rows = (line.rstrip("\r\n").split("\t") for line in f)
        header = next(rows)
        cols = [header.index(c) for c in ("title", "name", "description") if c in header]
        lab = header.index("category")
        texts, labels = [], []
        for r in rows:
            if len(r) <= lab or not r[lab].strip():
                continue
            texts.append(" ".join(p for p in (r[c].strip() for c in cols) if p))
            labels.append(r[lab].strip())
    return texts, labels


def build_ids(texts, T, subwords):
    """Every text's first T steps, each SLOTS ids (a token's, its bigram's, its character
    3-grams', -1 where none; 1 id without subwords), and the embedding rows: words,
    unknown-word buckets, subword buckets."""
    toks = [tokenize(t) for t in texts]
    counts = collections.Counter(tok for ts in toks for tok, _ in ts[:T])
    words = sorted(token_hash(w) for w, c in counts.items() if c >= MIN_COUNT)
    row = {h: i for i, h in enumerate(words)}
    base = len(words) + BUCKETS
    ids_of, grams_of, bigrams = {}, {}, {}

    def id_of(tok):
        if tok not in ids_of:
            h = token_hash(tok)
            ids_of[tok] = row.get(h, len(words) + ((h >> 17) % BUCKETS))
        return ids_of[tok]

    def step(ts, i):
        tok, cjk = ts[i]
        if not subwords:
            return [id_of(tok)]
        ids = [id_of(tok)] + [-1] * (SLOTS - 1)
        if i + 1 < len(ts):
            pair = (tok, ts[i + 1][0])
            if pair not in bigrams:
                h = fnv1a(fnv1a(FNV_BASIS, b"b"), tok.encode("utf-8"))
                h = ((h ^ (h >> 29)) * 0x9e3779b97f4a7c15 + token_hash(pair[1])) & M64
                bigrams[pair] = base + finish(h) % SUBWORD_BUCKETS
            ids[1] = bigrams[pair]
        if not cjk and len(tok) >= 2:
            if tok not in grams_of:
                grams_of[tok] = [base + h % SUBWORD_BUCKETS for h in char_grams(tok)]
            ids[2:2 + len(grams_of[tok])] = grams_of[tok]
        return ids

    ids = [[step(ts, i) for i in range(min(T, len(ts)))] for ts in toks]
    return ids, base + (SUBWORD_BUCKETS if subwords else 0), len(words)


def plan_epoch(lens, B, T, rng):
    """plan_epoch of seq_trainer.c: the batches (lists of text indices) in their order."""
    n = len(lens)
    order = rng.permutation(n)
    chunk = B * CHUNK_BATCHES
    sorted_idx = np.empty(n, dtype=np.int64)
    for c0 in range(0, n, chunk):
        part = order[c0:c0 + chunk]
        keys = T - lens[part]  # a stable sort on T - len: longest first, ties in order
        sorted_idx[c0:c0 + len(part)] = part[np.argsort(keys, kind="stable")]
    nb = (n + B - 1) // B
    return [sorted_idx[b * B:(b + 1) * B] for b in rng.permutation(nb)]


class SeqModel(nn.Module):
    def __init__(self, kind, V, T, D, layers, heads, K, dropout, sparse, gru_impl):
        super().__init__()
        self.kind = kind
        # a step is the mean of its slots' rows; row V pads unused slots and padded steps
        self.emb = nn.EmbeddingBag(V + 1, D, mode="mean", sparse=sparse, padding_idx=V)
        with torch.no_grad():
            nn.init.uniform_(self.emb.weight, -0.1, 0.1)
            self.emb.weight[V].zero_()
        self.drop = nn.Dropout(dropout)
        if kind == "transformer":
            self.pos = nn.Parameter(torch.empty(T, D).uniform_(-0.02, 0.02))
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(D, heads, 4 * D, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
                for _ in range(layers))
            W = D
        elif gru_impl == "packed":
            self.gru = nn.GRU(D, D, batch_first=True, bidirectional=True)
            W = 2 * D
        else:
            self.fwd = nn.GRU(D, D, batch_first=True)
            self.bwd = nn.GRU(D, D, batch_first=True)
            W = 2 * D
        self.gru_impl = gru_impl
        self.head = nn.Linear(2 * W, K)

    def forward(self, tok, lens, real):
        """tok [B][Tb][S] ids, lens [B], real [B][Tb] True on real tokens."""
        B, Tb, S = tok.shape
        x = self.emb(tok.view(B * Tb, S)).view(B, Tb, -1)
        if self.kind == "transformer":
            x = self.drop((x + self.pos[:Tb]) * real.unsqueeze(2))
            pad = ~real
            for blk in self.blocks:
                x = blk(x, src_key_padding_mask=pad)
        elif self.gru_impl == "packed":
            x = self.drop(x)
            packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=Tb)
        else:  # the backward direction reads each text's real tokens reversed
            x = self.drop(x)
            t = torch.arange(Tb).unsqueeze(0)
            rev = torch.where(real, lens.unsqueeze(1) - 1 - t, t).unsqueeze(2).expand_as(x)
            back = self.bwd(x.gather(1, rev))[0].gather(1, rev)
            x = torch.cat([self.fwd(x)[0], back], 2)
        m = real.unsqueeze(2)
        mean = (x * m).sum(1) / lens.unsqueeze(1).to(x.dtype)
        mx = x.masked_fill(~m, float("-inf")).max(1).values
        return self.head(self.drop(torch.cat([mean, mx], 1)))


def lr_at(step, total, warm, lr):
    """schedule_at (SCHEDULE_COSINE) of src/nn/schedule.c."""
    if step < warm:
        return lr * step / warm
    decay = max(total - warm, 1)
    p = (step - warm) / decay
    return 0.0 if p >= 1 else lr * 0.5 * (1 + math.cos(math.pi * p))


class LazyAdamW:
    """AdamW on the embedding rows a batch used, as shelf's trainer: rows absent from the
    batch are neither decayed nor moved; the step count is the global one."""

    def __init__(self, weight, wd):
        self.w, self.wd = weight, wd
        self.m = torch.zeros_like(weight)
        self.v = torch.zeros_like(weight)

    @torch.no_grad()
    def step(self, lr, step):
        g = self.w.grad.coalesce()
        idx, gv = g.indices()[0], g.values()
        bc1, bc2 = 1 - BETA1 ** step, 1 - BETA2 ** step
        m = self.m.index_select(0, idx).mul_(BETA1).add_(gv, alpha=1 - BETA1)
        v = self.v.index_select(0, idx).mul_(BETA2).addcmul_(gv, gv, value=1 - BETA2)
        self.m.index_copy_(0, idx, m)
        self.v.index_copy_(0, idx, v)
        w = self.w.data.index_select(0, idx).mul_(1 - lr * self.wd)
        w.addcdiv_(m, v.sqrt_().div_(math.sqrt(bc2)).add_(EPS), value=-lr / bc1)
        self.w.data.index_copy_(0, idx, w)
        self.w.grad = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--encoder", choices=["gru", "transformer"], required=True)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: epochs)")
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--embedding-update", choices=["lazy", "dense"], default="lazy")
    ap.add_argument("--gru", choices=["reversed", "packed"], default="reversed",
                    help="the bidirectional GRU as two nn.GRU, the backward one over each "
                    "text reversed (default), or one nn.GRU over a packed batch")
    ap.add_argument("--subwords", choices=["on", "off"], default="on",
                    help="each step the mean of its token's, bigram's and character "
                    "3-grams' rows (shelf's default), or the token's row only (--maxn 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    texts, labels = read_catalog(a.train)
    names = sorted(set(labels))
    y_all = torch.tensor([names.index(l) for l in labels])
    ids, V, nwords = build_ids(texts, a.max_tokens, a.subwords == "on")
    S = SLOTS if a.subwords == "on" else 1
    ids = [np.array(t, dtype=np.int64).reshape(-1, S) for t in ids]
    for t in ids:
        t[t < 0] = V  # the padding row
    lens = np.array([len(t) for t in ids])
    keep = np.nonzero(lens > 0)[0]  # a text without tokens pools to zeros: left out here
    sparse = a.embedding_update == "lazy"
    model = SeqModel(a.encoder, V, a.max_tokens, a.dim, a.layers, a.heads, len(names),
                     a.dropout, sparse, a.gru)
    model.train()
    dense = [p for n, p in model.named_parameters() if not (sparse and n == "emb.weight")]
    opt = torch.optim.AdamW(dense, lr=a.lr, betas=(BETA1, BETA2), eps=EPS,
                            weight_decay=a.weight_decay, foreach=True)
    lazy = LazyAdamW(model.emb.weight, a.weight_decay) if sparse else None
    per_epoch = (len(keep) + a.batch - 1) // a.batch
    total = a.steps if a.steps > 0 else per_epoch * a.epochs
    sched_total = per_epoch * a.epochs
    warm = int(WARMUP_SHARE * sched_total)

    step, texts_done, tokens_done, spent = 0, 0, 0, 0.0
    while step < total:
        for batch in plan_epoch(lens[keep], a.batch, a.max_tokens, rng):
            if step >= total:
                break
            rows = keep[batch]
            bl = lens[rows]
            Tb = int(bl.max())
            tok = np.full((len(rows), Tb, S), V, dtype=np.int64)
            for i, r in enumerate(rows):
                tok[i, :bl[i]] = ids[r]
            tok, bl_t = torch.from_numpy(tok), torch.from_numpy(bl)
            real = torch.arange(Tb).unsqueeze(0) < bl_t.unsqueeze(1)
            y = y_all[torch.from_numpy(rows)]
            lr = lr_at(step, sched_total, warm, a.lr)

            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(tok, bl_t, real), y)
            loss.backward()
            step += 1
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
            if lazy:
                lazy.step(lr, step)
            spent += time.perf_counter() - t0
            texts_done += len(rows)
            tokens_done += int(bl.sum())

    print("pytorch %s texts %d steps %d seconds %.3f texts/s %.1f tokens/s %.1f loss %.4f "
          "rows %d+%d+%d threads %d torch %s" % (
              a.encoder, texts_done, step, spent, texts_done / spent, tokens_done / spent,
              loss.item(), nwords, BUCKETS, V - nwords - BUCKETS, torch.get_num_threads(),
              torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
