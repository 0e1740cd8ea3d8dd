"""The PyTorch half of issue 15's GPU comparison (bench/bench_gpu_char.cpp is recur's):
the same character model (Embedding 65x64, 2-layer LSTM of 512 on cuDNN, Linear 512x65),
the same training step (batch 100, sequence 100, cross-entropy, clip_grad_norm_ 5, Adam
2e-3, the loss read back every step) and batch-1 generation, one character per step.

    python3 bench/char_torch_gpu.py [--device cuda:0] [--steps 30] [--chars 2000]

Prints one JSON line like bench_gpu_char's, with the peak memory PyTorch's allocator held.
"""
import argparse
import json
import time

import torch

VOCAB, BATCH, STEPS = 65, 100, 100


class LanguageModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 64)
        self.rnn = torch.nn.LSTM(64, 512, num_layers=2)
        self.head = torch.nn.Linear(512, VOCAB)

    def forward(self, inputs, state=None):
        output, state = self.rnn(self.embed(inputs), state)
        return self.head(output), state


def tokens(step, n):
    """Token i of the same fixed stream as bench_gpu_char.cpp."""
    t = torch.arange(step * n, step * n + n, dtype=torch.int64)
    return ((t * 2654435761) % (1 << 64) >> 7) % VOCAB


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--chars", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(1)
    model = LanguageModel().to(device)
    adam = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step(step):
        data = tokens(step, (STEPS + 1) * BATCH).view(STEPS + 1, BATCH).to(device)
        logits, _ = model(data[:-1])
        loss = loss_fn(logits.reshape(-1, VOCAB), data[1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        adam.step()
        adam.zero_grad()
        return loss.item()

    for step in range(3):
        train_step(step)
    torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for step in range(args.steps):
        loss = train_step(3 + step)
    train_seconds = time.perf_counter() - start
    peak_mb = torch.cuda.max_memory_reserved(device) / 2**20

    model.eval()
    gen = torch.Generator(device=device).manual_seed(5)
    with torch.no_grad():
        state = None
        token = torch.zeros(1, 1, dtype=torch.int64, device=device)
        for i in range(50 + args.chars):
            if i == 50:
                torch.cuda.synchronize(device)
                start = time.perf_counter()
            logits, state = model(token, state)
            probs = torch.softmax(logits[0, 0], dim=0)
            token[0, 0] = int(torch.multinomial(probs, 1, generator=gen).item())
        sample_seconds = time.perf_counter() - start

    print(json.dumps({
        "impl": "pytorch", "device": args.device, "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "train_chars_per_sec": round(args.steps * BATCH * STEPS / train_seconds),
        "sample_chars_per_sec": round(args.chars / sample_seconds),
        "train_steps": args.steps, "last_loss": round(loss, 4), "peak_reserved_mb": round(peak_mb, 1),
    }))


if __name__ == "__main__":
    main()
