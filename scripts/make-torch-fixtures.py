#!/usr/bin/python3
"""Makes the PyTorch fixtures under test/fixtures/torch/ (run once; the tests and CI need no Python).

    apt-get install -y python3-torch      # Debian's torch 1.13
    /usr/bin/python3 scripts/make-torch-fixtures.py

Narrow versions of the official AdaptSegNet networks (wasidennis/AdaptSegNet, model/deeplab_multi.py
and model/deeplab_vgg.py), written here from their definitions with the official state_dict names,
with every channel count scaled by a width multiplier (round half up, at least 1), random weights,
batch-norm statistics measured on one input then perturbed, and their outputs on a fixed input.
(At width 1, DeeplabMulti(19) here and the official one have the same 640 state_dict entries in the
same order, 44,601,560 parameters, and identical outputs on the same weights.)


  deeplab_multi.pth         DeeplabMulti (ResNet-101 DeepLab-v2, two heads), width 1/32, zip format
  deeplab_multi_legacy.pth  the same weights with the DeepLab init's `Scale.` prefix, legacy format
                            (what PyTorch < 1.6 wrote: the official checkpoints are in it)
  deeplab_multi_io.pth      input, eval-mode outputs (official 2-branch ASPP and 4-branch), the
                            train-mode outputs of one forward (batch statistics) and the running
                            statistics of a few BN layers after it (momentum 0.1), and PyTorch's
                            gradients of a fixed linear loss for a few weights in both BN modes
                            (float32 and float64)
  deeplab_vgg.pth           DeeplabVGG, width 1/32, and deeplab_vgg_io.pth (input, output)
  vgg16_torchvision.pth     torchvision vgg16 names (features.N, classifier.*), width 1/32, whose 13
                            convs equal deeplab_vgg.pth's
  misc.pth, misc_legacy.pth  other dtypes (float16, bfloat16, float64, int32), a non-contiguous
                            tensor, a view at an offset into a shared storage, nested containers,
                            each with its float32 contiguous copy `<name>.ref` (zip and legacy)
  whole_module.pth          torch.save of a whole nn.Module (not a state_dict): must be refused
"""
import copy
import math
import os
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "torch")
C = 5


GRAD_CHECKS = ["conv1.weight", "layer1.0.conv2.weight", "layer2.0.downsample.0.weight", "layer3.11.conv3.weight",
               "layer4.2.conv2.weight", "layer5.conv2d_list.1.weight", "layer6.conv2d_list.0.bias"]


def resnet_out(n):
    n = (n - 1) // 2 + 1            # conv1 7x7/2 pad 3
    n = -(-(n - 1) // 2) + 1        # max-pool 3x3/2 pad 1, ceil_mode
    return -(-n // 2)               # layer2 stride 2


def ch(n, m):
    return max(1, int(math.floor(n * m + 0.5)))


class Bottleneck(nn.Module):
    """Caffe-style: the stride is on the first 1x1 conv."""

    def __init__(self, cin, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Head(nn.Module):
    """Classifier_Module: 3x3 convs, dilation = padding = 6, 12, 18, 24, outputs summed."""

    def __init__(self, cin, classes):
        super().__init__()
        self.conv2d_list = nn.ModuleList(nn.Conv2d(cin, classes, 3, padding=d, dilation=d) for d in (6, 12, 18, 24))

    def forward(self, x, branches):
        return sum(self.conv2d_list[k](x) for k in range(branches))


class DeeplabMulti(nn.Module):
    def __init__(self, classes, m):
        super().__init__()
        self.cin = ch(64, m)
        self.conv1 = nn.Conv2d(3, self.cin, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.cin)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.layer1 = self.layer(ch(64, m), 3)
        self.layer2 = self.layer(ch(128, m), 4, stride=2)
        self.layer3 = self.layer(ch(256, m), 23, dilation=2)
        self.layer4 = self.layer(ch(512, m), 3, dilation=4)
        self.layer5 = Head(ch(256, m) * 4, classes)
        self.layer6 = Head(ch(512, m) * 4, classes)

    def layer(self, planes, blocks, stride=1, dilation=1):
        # The official _make_layer gives every layer's first block a projection shortcut.
        down = nn.Sequential(nn.Conv2d(self.cin, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
        out = [Bottleneck(self.cin, planes, stride, dilation, down)]
        self.cin = planes * 4
        out += [Bottleneck(self.cin, planes, 1, dilation) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward(self, x, branches=2):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.layer5(x, branches), self.layer6(self.layer4(x), branches)


VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg_features(m):
    layers, cin = [], 3
    for v in VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, ch(v, m), 3, padding=1), nn.ReLU(inplace=True)]
            cin = ch(v, m)
    return layers


class DeeplabVGG(nn.Module):
    def __init__(self, classes, m):
        super().__init__()
        f = vgg_features(m)
        f = f[:23] + f[24:30]  # pool4 and pool5 removed
        for i in (23, 25, 27):
            f[i].dilation, f[i].padding = (2, 2), (2, 2)
        f += [nn.Conv2d(ch(512, m), ch(1024, m), 3, padding=4, dilation=4), nn.ReLU(inplace=True),
              nn.Conv2d(ch(1024, m), ch(1024, m), 3, padding=4, dilation=4), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*f)
        self.classifier = Head(ch(1024, m), classes)

    def forward(self, x, branches=2):
        return self.classifier(self.features(x), branches)


def randomize(net, head_std):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, mod in net.named_modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
                head = "layer5" in name or "layer6" in name or "classifier" in name
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * (head_std if head else math.sqrt(2.0 / fan_in)))
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                mod.bias.copy_(torch.randn(n, generator=g) * 0.1)
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g) * 2)


def calibrate(net, x):
    """Running statistics near the real ones (so that eval-mode activations stay O(1) through 100
    layers), then perturbed: the cumulative batch statistics of one input, times noise."""
    g = torch.Generator().manual_seed(3)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    net.train()
    with torch.no_grad():
        net(x)
        for bn in bns:
            n = bn.num_features
            bn.momentum = 0.1
            bn.num_batches_tracked.zero_()
            bn.running_mean.add_(torch.randn(n, generator=g) * 0.1 * bn.running_var.sqrt())
            bn.running_var.mul_(0.8 + 0.4 * torch.rand(n, generator=g))
    net.eval()


def save(obj, name, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    print(f"{name}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(2)

    # ---- DeeplabMulti, width 1/32
    net = DeeplabMulti(C, 1 / 32)
    randomize(net, 0.1)
    calibrate(net, torch.rand(1, 3, 65, 81, generator=g) * 255 - 128)
    sd = net.state_dict()
    save(sd, "deeplab_multi.pth")
    save(OrderedDict(("Scale." + k, v) for k, v in sd.items()), "deeplab_multi_legacy.pth", _use_new_zipfile_serialization=False)
    x = torch.rand(1, 3, 65, 81, generator=g) * 255 - 128
    io = OrderedDict(input=x)
    # Gradients of L = sum(main * r_main) + 0.5 * sum(aux * r_aux) for a few weights: eval-mode BN
    # with the 4-branch ASPP ("frozen"), train-mode BN with the official 2 branches ("faithful").
    h, w = resnet_out(x.shape[2]), resnet_out(x.shape[3])
    io["r_main"], io["r_aux"] = torch.randn(1, C, h, w, generator=g), torch.randn(1, C, h, w, generator=g)
    # In float32 and in float64 (stored as float64): train-mode BN at this width is ill-conditioned,
    # so float32 gradients are only as good as PyTorch's own float32 ones against float64.
    for mode, branches in (("frozen", 4), ("faithful", 2)):
        for dtype, key in ((torch.float32, "grad"), (torch.float64, "grad64")):
            m = copy.deepcopy(net).to(dtype)
            m.train(mode == "faithful")
            aux, main = m(x.to(dtype), branches)
            ((main * io["r_main"].to(dtype)).sum() + 0.5 * (aux * io["r_aux"].to(dtype)).sum()).backward()
            params = dict(m.named_parameters())
            for k in GRAD_CHECKS:
                io[f"{key}_{mode}.{k}"] = params[k].grad.clone()
    with torch.no_grad():
        io["eval_faithful_aux"], io["eval_faithful_main"] = net(x, 2)
        io["eval_fixed_aux"], io["eval_fixed_main"] = net(x, 4)
        net.train()  # batch statistics; running statistics move by momentum 0.1 (unbiased variance)
        io["train_faithful_aux"], io["train_faithful_main"] = net(x, 2)
    for bn in ["bn1", "layer1.0.bn1", "layer3.22.bn3", "layer4.0.downsample.1", "layer4.2.bn3"]:
        for s in ["running_mean", "running_var"]:
            io[f"after.{bn}.{s}"] = net.state_dict()[f"{bn}.{s}"].clone()
    save(io, "deeplab_multi_io.pth")
    for k in ["eval_faithful_main", "eval_fixed_aux", "train_faithful_main"]:
        print(f"  {k}: shape {list(io[k].shape)} std {io[k].std():.3f}")

    # ---- DeeplabVGG, width 1/32 (input size divisible by 8: torchvision's floor pooling = ceil)
    vgg = DeeplabVGG(C, 1 / 32)
    randomize(vgg, 0.1)
    vgg.eval()
    save(vgg.state_dict(), "deeplab_vgg.pth")
    xv = torch.rand(1, 3, 64, 96, generator=g) * 255 - 128
    with torch.no_grad():
        out = vgg(xv, 2)
    save(OrderedDict(input=xv, eval_faithful_main=out), "deeplab_vgg_io.pth")
    print(f"  vgg main: shape {list(out.shape)} std {out.std():.3f}")

    # ---- torchvision vgg16 naming (features.N with pools at 4, 9, 16, 23, 30; classifier.0/3/6)
    tv = nn.Sequential(*vgg_features(1 / 32))
    dv = [m for m in vgg.features if isinstance(m, nn.Conv2d)][:13]
    with torch.no_grad():
        for a, b in zip([m for m in tv if isinstance(m, nn.Conv2d)], dv):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    tvsd = OrderedDict(("features." + k, v) for k, v in tv.state_dict().items())
    for i, (o, n) in {0: (4, 4), 3: (4, 4), 6: (3, 4)}.items():
        tvsd[f"classifier.{i}.weight"] = torch.randn(o, n, generator=g)
        tvsd[f"classifier.{i}.bias"] = torch.randn(o, generator=g)
    save(tvsd, "vgg16_torchvision.pth")

    # ---- dtypes, strides, offsets, nesting
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.6
    misc = OrderedDict()
    misc["f16"] = base.half()
    misc["bf16"] = base.bfloat16()
    misc["f64"] = base.double()
    misc["i32"] = (base * 8).int()
    misc["transposed"] = base.t()
    misc["row"] = base[1]
    for k in list(misc):
        misc[k + ".ref"] = misc[k].float().contiguous()
    obj = {"epoch": 3, "lr": 2.5e-4, "name": "misc", "flags": [True, False, None], "shape": (3, 4), "state_dict": misc}
    save(obj, "misc.pth")
    save(obj, "misc_legacy.pth", _use_new_zipfile_serialization=False)

    # ---- a whole module instead of a state_dict
    save(nn.Conv2d(1, 1, 1), "whole_module.pth")


if __name__ == "__main__":
    main()
