"""BiGRU classifier on zh-online-shopping-10cats, with optional self-supervised
pretraining (bidirectional LM or masked-token prediction) on TRAIN texts only.

Research for issue 5 (2026-11-29), not part of the product: does pretraining the encoder
on the catalog's own texts help? It did not (docs/benchmarks.md). Reads $SHELF_DATA
(default ../shared/data); writes bench/out/zh-pretrain/.

usage: python3 bench/zh_pretrain_gru.py --pretrain {none,lm,mlm} --pt_epochs N --epochs 6 --seed 1
                      [--layers 1] [--dropout 0.1] [--tag name]
"""
import argparse, collections, json, math, os, random, re, time, unicodedata
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from sklearn.metrics import f1_score

ap = argparse.ArgumentParser()
ap.add_argument('--pretrain', default='none', choices=['none', 'lm', 'mlm'])
ap.add_argument('--pt_epochs', type=int, default=2)
ap.add_argument('--epochs', type=int, default=6)
ap.add_argument('--seed', type=int, default=1)
ap.add_argument('--layers', type=int, default=1)
ap.add_argument('--dropout', type=float, default=0.1)
ap.add_argument('--lr', type=float, default=2e-3)
ap.add_argument('--pt_lr', type=float, default=2e-3)
ap.add_argument('--tag', default=None)
ap.add_argument('--pt_seed', type=int, default=None, help='reuse encoder pretrained with this seed')
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--pt_bs', type=int, default=128)
ap.add_argument('--lm_frac', type=float, default=0.25)
args = ap.parse_args()
torch.set_num_threads(args.threads)
tag = args.tag or f"{args.pretrain}_pt{args.pt_epochs}_L{args.layers}_d{args.dropout}_s{args.seed}"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out', 'zh-pretrain')
os.makedirs(OUT, exist_ok=True)
log_f = open(f'{OUT}/{tag}.log', 'w')


def log(*a):
    s = ' '.join(str(x) for x in a)
    print(s, flush=True)
    log_f.write(s + '\n'); log_f.flush()


log(vars(args))
random.seed(args.seed); np.random.seed(args.seed); torch.manual_seed(args.seed)

D = os.path.join(os.environ.get('SHELF_DATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data')), 'zh-online-shopping-10cats')
TOK = re.compile(r'[\u4e00-\u9fff]|[a-z0-9]+')
MAXLEN, NBUCKET, EMB, HID, BS = 64, 16384, 128, 128, 32


def read(split):
    X, Y = [], []
    with open(f'{D}/{split}.tsv', encoding='utf-8') as f:
        next(f)
        for line in f:
            p = line.rstrip('\n').split('\t')
            X.append(TOK.findall(unicodedata.normalize('NFKC', p[1] + ' ' + p[2]).lower()))
            Y.append(p[3])
    return X, Y


trX, trY = read('train'); vaX, vaY = read('valid'); teX, teY = read('test')
cnt = collections.Counter(t for x in trX for t in x)
# ids: 0 pad, 1 mask, 2 empty-text filler, 3..3+V-1 vocab, then NBUCKET hashed buckets for rare/unseen
vocab = {t: i + 3 for i, t in enumerate(sorted(t for t, c in cnt.items() if c >= 2))}
V = len(vocab) + 3
NTOK = V + NBUCKET
import zlib


def enc(x):
    ids = [vocab.get(t, V + zlib.crc32(t.encode()) % NBUCKET) for t in x[:MAXLEN]]
    return ids if ids else [2]


labels = sorted(set(trY)); lab = {c: i for i, c in enumerate(labels)}
tr = [(enc(x), lab[y]) for x, y in zip(trX, trY)]

va = [(enc(x), lab[y]) for x, y in zip(vaX, vaY)]
te = [(enc(x), lab[y]) for x, y in zip(teX, teY)]
if os.environ.get('SMOKE'):
    tr, va, te = tr[:1600], va[:500], te[:500]
log(f'vocab {V - 3} (+3 special, +{NBUCKET} hash buckets), train {len(tr)} valid {len(va)} test {len(te)}')


def batches(data, shuffle, BS=BS):
    idx = list(range(len(data)))
    if shuffle:
        random.shuffle(idx)
        chunks = [sorted(idx[i:i + BS * 50], key=lambda j: len(data[j][0])) for i in range(0, len(idx), BS * 50)]
        bl = [c[i:i + BS] for c in chunks for i in range(0, len(c), BS)]
        random.shuffle(bl)
    else:
        idx.sort(key=lambda j: len(data[j][0]))
        bl = [idx[i:i + 256] for i in range(0, len(idx), 256)]
    for b in bl:
        lens = torch.tensor([len(data[j][0]) for j in b])
        x = torch.zeros(len(b), int(lens.max()), dtype=torch.long)
        for k, j in enumerate(b):
            x[k, :lens[k]] = torch.tensor(data[j][0])
        y = torch.tensor([data[j][1] for j in b])
        yield x, lens, y


class Encoder(nn.Module):
    def __init__(self, layers, dropout):
        super().__init__()
        self.emb = nn.Embedding(NTOK, EMB, padding_idx=0)
        self.gru = nn.GRU(EMB, HID, num_layers=layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, lens):
        e = self.drop(self.emb(x))
        p = pack_padded_sequence(e, lens, batch_first=True, enforce_sorted=False)
        h, _ = self.gru(p)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.size(1))
        return h  # B,T,2H (zeros at padding)


class Classifier(nn.Module):
    def __init__(self, enc, dropout):
        super().__init__()
        self.enc = enc
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(4 * HID, len(labels))

    def forward(self, x, lens):
        h = self.enc(x, lens)
        m = (x != 0).unsqueeze(-1)
        mean = h.sum(1) / lens.unsqueeze(1).float()
        mx = h.masked_fill(~m, -1e9).max(1).values
        return self.out(self.drop(torch.cat([mean, mx], 1)))


def sched(opt, total, base):
    warm = max(1, int(0.05 * total))

    def f(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


enc_model = Encoder(args.layers, args.dropout)
pt_minutes = 0.0
nb = math.ceil(len(tr) / BS)
nbp = math.ceil(len(tr) / args.pt_bs)

# ---------------- pretraining (train texts only) ----------------
ckpt = f'{OUT}/enc_{args.pretrain}_pt{args.pt_epochs}_L{args.layers}_s{args.seed if args.pt_seed is None else args.pt_seed}.pt'
if args.pretrain != 'none' and os.path.exists(ckpt):
    enc_model.load_state_dict(torch.load(ckpt))
    pt_minutes = json.load(open(ckpt + '.json'))['pt_minutes']
    log(f'loaded pretrained encoder {ckpt} (pretraining took {pt_minutes:.1f} min)')
elif args.pretrain != 'none' and args.pt_epochs > 0:
    t0 = time.time()
    # prediction targets: vocab ids 3..V-1 -> classes 0..V-4 ; any hashed (rare) token -> class V-3 (UNK)
    NCLS = V - 2
    head_in = HID if args.pretrain == 'lm' else 2 * HID
    if args.pretrain == 'lm':
        assert args.layers == 1, 'bi-LM via one bidirectional layer only (deeper layers would leak)'
        headf, headb = nn.Linear(HID, NCLS), nn.Linear(HID, NCLS)
        heads = nn.ModuleList([headf, headb])
    else:
        heads = nn.ModuleList([nn.Linear(2 * HID, NCLS)])
    params = list(enc_model.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.pt_lr, weight_decay=5e-4)
    sch = sched(opt, args.pt_epochs * nbp, args.pt_lr)

    def tgt(x):
        return torch.where(x >= V, torch.full_like(x, V - 3), x - 3)

    for ep in range(args.pt_epochs):
        enc_model.train(); heads.train()
        tl, tn, te0 = 0.0, 0, time.time()
        for bi, (x, lens, _) in enumerate(batches(tr, True, args.pt_bs)):
            valid = (x != 0)
            if args.pretrain == 'lm':
                h = enc_model(x, lens)
                hf, hb = h[:, :, :HID], h[:, :, HID:]
                # forward state at t predicts token t+1 ; backward state at t predicts token t-1
                # loss on a random lm_frac subset of positions (for speed)
                mf = valid[:, 1:] & (torch.rand(x.size(0), x.size(1) - 1) < args.lm_frac)
                lf = F.cross_entropy(headf(hf[:, :-1][mf]), tgt(x[:, 1:][mf]))
                mb = valid[:, 1:] & (torch.rand(x.size(0), x.size(1) - 1) < args.lm_frac)
                lb = F.cross_entropy(headb(hb[:, 1:][mb]), tgt(x[:, :-1][mb]))
                loss = (lf + lb) / 2
            else:
                r = torch.rand(x.shape)
                sel = (r < 0.15) & valid & (x != 2)
                if sel.sum() == 0:
                    continue
                xin = x.clone()
                r2 = torch.rand(x.shape)
                xin[sel & (r2 < 0.8)] = 1  # [MASK]
                rnd = sel & (r2 >= 0.8) & (r2 < 0.9)
                xin[rnd] = torch.randint(3, V, (int(rnd.sum()),))
                h = enc_model(xin, lens)
                loss = F.cross_entropy(heads[0](h[sel]), tgt(x[sel]))
            opt.zero_grad(); loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step(); sch.step()
            tl += loss.item(); tn += 1
            if bi % 50 == 0:
                log(f'  pt ep{ep} b{bi}/{nbp} loss {tl / tn:.4f} {time.time() - te0:.0f}s')
        log(f'pt epoch {ep} loss {tl / tn:.4f} ({time.time() - te0:.0f}s)')
    pt_minutes = (time.time() - t0) / 60
    log(f'pretraining done {pt_minutes:.1f} min')
    torch.save(enc_model.state_dict(), ckpt)
    json.dump(dict(pt_minutes=pt_minutes), open(ckpt + '.json', 'w'))

# ---------------- fine-tuning ----------------
torch.manual_seed(args.seed + 1000)
model = Classifier(enc_model, args.dropout)
opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
sch = sched(opt, args.epochs * nb, args.lr)


def evaluate(data):
    model.eval(); P, Y = [], []
    with torch.no_grad():
        for x, lens, y in batches(data, False):
            P.append(model(x, lens).argmax(1)); Y.append(y)
    P = torch.cat(P).numpy(); Y = torch.cat(Y).numpy()
    return float((P == Y).mean()), float(f1_score(Y, P, average='macro'))


t0 = time.time(); best = None; hist = []
for ep in range(args.epochs):
    model.train(); tl, tn, te0 = 0.0, 0, time.time()
    for x, lens, y in batches(tr, True):
        loss = F.cross_entropy(model(x, lens), y)
        opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sch.step()
        tl += loss.item(); tn += 1
    va_acc, va_f1 = evaluate(va); te_acc, te_f1 = evaluate(te)
    hist.append(dict(ep=ep, loss=tl / tn, va_acc=va_acc, te_acc=te_acc, te_f1=te_f1))
    log(f'ep {ep} loss {tl / tn:.4f} valid {va_acc:.4f} test {te_acc:.4f} testF1 {te_f1:.4f} ({time.time() - te0:.0f}s)')
    if best is None or va_acc > best['va_acc']:
        best = hist[-1]
ft_minutes = (time.time() - t0) / 60
res = dict(tag=tag, args=vars(args), pt_minutes=pt_minutes, ft_minutes=ft_minutes, best=best, hist=hist)
log('RESULT', json.dumps(res))
json.dump(res, open(f'{OUT}/{tag}.json', 'w'), indent=1)
