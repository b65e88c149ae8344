# An MLP trained by PyTorch, not by mlc, for benchmarks/tune.bench.mjs (`torch-mlp`): LeNet-300-100
# (Linear 784→300, ReLU, Linear 300→100, ReLU, Linear 100→10) trained with Adam, no weight decay,
# on the 8,000 digits of fixtures/mnist-train.npz, exported by torch.onnx.export (Gemm, transB=1).
#   python3 train-mlp.py <mnist-train.npz> <out.onnx> [epochs=5] [seed=0]
import sys, warnings
import numpy as np
import torch
warnings.filterwarnings('ignore')
train, out = sys.argv[1], sys.argv[2]
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
torch.manual_seed(seed)
torch.set_num_threads(1)
d = np.load(train)
x = torch.from_numpy(d['input'].astype(np.float32))
y = torch.from_numpy(d['labels'].astype(np.int64))
model = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
g = torch.Generator().manual_seed(seed)
for epoch in range(epochs):
    model.train()
    perm = torch.randperm(len(x), generator=g)
    total = 0.0
    for i in range(0, len(x), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    print(f'epoch {epoch + 1}: loss {total / len(x):.4f}', flush=True)
model.eval()
torch.onnx.export(model, (x[:1],), out, input_names=['input'], output_names=['logits'], dynamic_axes={'input': [0], 'logits': [0]}, opset_version=17, dynamo=False)
print('ok', out)
