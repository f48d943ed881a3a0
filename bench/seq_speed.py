#!/usr/bin/python3
"""Training speed of the same layers as bench/seq_speed.c, in PyTorch (Debian's
python3-torch), on the same batch and threads; prints the same lines.

usage: bench/seq_speed.py [reps] [threads]

One step: gradients zeroed, forward, backward from a fixed random gradient of the output,
on a batch of 64 sequences of 64 steps (every sequence full) of width 128: (a) nn.GRU(128,
128, bidirectional, batch_first); (b) nn.TransformerEncoderLayer(128, 4, 512, dropout 0,
gelu, norm_first, batch_first), with an all-false src_key_padding_mask (as a padded batch
is called) and without one (PyTorch's faster path). The input requires its gradient, as
an embedding's output would. Median of reps steps after 3 warm-up steps."""
import statistics, sys, time
import torch, torch.nn as nn

B, T, D, H, HEADS, FFN = 64, 64, 128, 128, 4, 512
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(1)

def measure(name, model, call):
    x = torch.randn(B, T, D, requires_grad=True)
    dout = torch.randn_like(call(model, x))
    times = []
    for r in range(-3, reps):
        t = time.perf_counter()
        model.zero_grad(set_to_none=True)
        x.grad = None
        call(model, x).backward(dout)
        if r >= 0:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print("%-11s threads %d  tokens/s %8.0f  ms/batch %7.2f  (best %.2f)"
          % (name, threads, B * T / med, med * 1e3, min(times) * 1e3))

print("# torch %s; batch %d, %d steps, width %d; GRU hidden %d x 2; Transformer %d heads, "
      "ffn %d" % (torch.__version__, B, T, D, H, HEADS, FFN))
measure("gru", nn.GRU(D, H, batch_first=True, bidirectional=True), lambda m, x: m(x)[0])
layer = nn.TransformerEncoderLayer(D, HEADS, FFN, dropout=0.0, activation="gelu",
                                   batch_first=True, norm_first=True)
mask = torch.zeros(B, T, dtype=torch.bool)
measure("transformer", layer, lambda m, x: m(x, src_key_padding_mask=mask))
measure("transformer", layer, lambda m, x: m(x))
