"""A LeNet-5 trained by a plain PyTorch recipe, not mlc's: the model deepcompression.bench.mjs
checks the CNN recipe on (--only cnn-torch). Adam with a one-cycle schedule (PyTorch's OneCycleLR:
the rate warms up to 3e-3 over the first 30 % of the steps, then anneals to ~0), no weight decay,
no augmentation, 20 epochs, batch 64, on the 8,000 digits of fixtures/mnist-train.npz: trained to
convergence (training loss ~5e-4; 98.70 % on the 2,000 test digits with seed 0), as a model
trained elsewhere would be. Exported with torch.onnx.export (opset 17). Bench-only: mlc and its
tests never need Python or torch. The test accuracy is printed when fixtures/mnist-test.npz
exists (nothing is chosen by it).

    python3 benchmarks/lenet5_torch.py out.onnx [seed] [epochs] [max_lr]
"""
import sys

import numpy as np
import torch
from torch import nn


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = x.reshape(-1, 1, 28, 28)
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    z = np.load("fixtures/mnist-train.npz")
    x = torch.from_numpy(z["input"]).float()
    y = torch.from_numpy(z["labels"]).long()
    model = LeNet5()
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 3e-3
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: loss {total / len(x):.4f}", file=sys.stderr)
    model.eval()
    try:
        t = np.load("fixtures/mnist-test.npz")
        with torch.no_grad():
            pred = model(torch.from_numpy(t["input"]).float()).argmax(1).numpy()
        print(f"test accuracy {100 * (pred == t['labels']).mean():.2f} %", file=sys.stderr)
    except FileNotFoundError:
        pass
    torch.onnx.export(
        model,
        torch.zeros(1, 784),
        out,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=17,
        dynamo=False,
    )


if __name__ == "__main__":
    main()
