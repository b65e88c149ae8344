# Real architectures exported by PyTorch's classic (TorchScript) and dynamo exporters, with random
# weights (no downloads): transformers' BERT, DistilBERT, GPT-2, ViT, ResNet-18 and MobileNetV2.
# Used by benchmarks/real.bench.mjs:  python3 export.py <out dir> [names...]
import sys, torch, warnings
warnings.filterwarnings('ignore')
torch.manual_seed(0)
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel, GPT2Config, GPT2LMHeadModel, ViTConfig, ViTForImageClassification
from transformers import ResNetConfig, ResNetForImageClassification, MobileNetV2Config, MobileNetV2ForImageClassification
out = sys.argv[1]
def export(name, model, args, input_names, dynamic_axes, dynamo):
    model.eval()
    path = f'{out}/{name}_{"dynamo" if dynamo else "classic"}.onnx'
    try:
        if dynamo:
            dyn = {k: {i: torch.export.Dim.AUTO for i in v} for k, v in dynamic_axes.items() if k in input_names}
            torch.onnx.export(model, args, path, input_names=input_names, dynamo=True, dynamic_shapes=tuple(dyn.get(n) for n in input_names), external_data=False)
        else:
            torch.onnx.export(model, args, path, input_names=input_names, output_names=['out'], dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)
        print('ok', path, flush=True)
    except Exception as e:
        print('FAIL', path, type(e).__name__, str(e)[:300], flush=True)
which = sys.argv[2:] or ['bert', 'distilbert', 'gpt2', 'vit', 'resnet18', 'mobilenetv2']
ids = torch.randint(0, 1000, (1, 16))
mask = torch.ones(1, 16, dtype=torch.long)
for dyn in (False, True):
    if 'bert' in which:
        m = BertModel(BertConfig(num_hidden_layers=4))
        export('bert', m, (ids, mask), ['input_ids', 'attention_mask'], {'input_ids': [0, 1], 'attention_mask': [0, 1]}, dyn)
    if 'distilbert' in which:
        m = DistilBertModel(DistilBertConfig(n_layers=3))
        export('distilbert', m, (ids, mask), ['input_ids', 'attention_mask'], {'input_ids': [0, 1], 'attention_mask': [0, 1]}, dyn)
    if 'gpt2' in which:
        m = GPT2LMHeadModel(GPT2Config(n_layer=4, use_cache=False))
        m.config.use_cache = False
        export('gpt2', m, (ids,), ['input_ids'], {'input_ids': [0, 1]}, dyn)
    if 'vit' in which:
        m = ViTForImageClassification(ViTConfig(num_hidden_layers=4))
        export('vit', m, (torch.randn(1, 3, 224, 224),), ['pixel_values'], {'pixel_values': [0]}, dyn)
    if 'resnet18' in which:
        export('resnet18', ResNetForImageClassification(ResNetConfig(layer_type='basic', depths=[2,2,2,2], hidden_sizes=[64,128,256,512])), (torch.randn(1, 3, 224, 224),), ['x'], {'x': [0, 2, 3]}, dyn)
    if 'mobilenetv2' in which:
        export('mobilenetv2', MobileNetV2ForImageClassification(MobileNetV2Config()), (torch.randn(1, 3, 224, 224),), ['x'], {'x': [0]}, dyn)
