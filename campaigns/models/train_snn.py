# Model zoo: trains `snn`, a leaky-integrate-and-fire spiking MLP for
# Fashion-MNIST with a deterministic rate-coded input, using a surrogate
# gradient, and exports it with torch.jit.script (snn.pt) with its snn.json.
"""LIF spiking network with a deterministic rate code.

Input coding (inside forward, deterministic -- no random generator at run time)
  For T time steps every pixel p has a fixed threshold pattern
      theta[t, p] = (pi_p(t) + 0.5) / T,   t = 0..T-1,
  where pi_p is a random permutation of 0..T-1 drawn ONCE per pixel from a
  torch.Generator seeded with CODE_SEED when the model is built, and stored in
  the model as the buffer `thresholds` [T, 784] (so it is inside snn.pt).
  The input spike of pixel p at step t is  s_in[t, p] = 1 if x[p] > theta[t, p].
  A pixel of intensity x therefore fires exactly #{k : (k + 0.5)/T < x}
  = round(x*T) times (0 for background, T for white) -- a rate code -- at
  times scattered pseudo-randomly per pixel, like a Bernoulli/Poisson coder
  but without its sampling noise.  Plain [0,1] images in => reproducible
  logits out, in Python and from a C++ caller alike.

Network (time loop is a scripted `for t in range(self.T)` carrying mem1, mem2)
  fc1: 784 -> HIDDEN, LIF layer: mem1 = beta*mem1 + fc1(s_in[t]);
       s1 = H(mem1 - v_th); mem1 = mem1 - s1*v_th   (soft reset, "subtract")
  fc2: HIDDEN -> 10, non-spiking leaky integrator: mem2 = beta_out*mem2 + fc2(s1)
  logits = mean over t of mem2                  -> [N, 10]
  beta = 0.9, beta_out = 0.9, v_th = 1.0 (fixed, stored as attributes).

Training: the Heaviside H has the fast-sigmoid surrogate gradient
  dH/du ~ 1 / (1 + SLOPE*|u|)^2, implemented as  hard + (sg - sg.detach())  with
  sg = u / (1 + SLOPE*|u|): the forward value is exactly the 0/1 spike, the
  backward is sg's derivative.  In eval mode (self.training False) forward
  computes only the hard spike.  Adam, cross-entropy on the logits.
Usage: train_snn.py OUTDIR
"""
import os
import time

import torch
import torch.nn as nn

import common

NAME = "snn"
SEED = 2
CODE_SEED = 20240601
T_STEPS = 8
HIDDEN = 256
EPOCHS = 3
LR = 1e-3
BATCH = 128
SLOPE = 25.0


class LIFSNN(nn.Module):
    def __init__(self, T: int = T_STEPS, hidden: int = HIDDEN, code_seed: int = CODE_SEED):
        super().__init__()
        self.T = T
        self.hidden = hidden
        self.beta = 0.9
        self.beta_out = 0.9
        self.v_th = 1.0
        self.slope = SLOPE
        g = torch.Generator()
        g.manual_seed(code_seed)
        perm = torch.argsort(torch.rand(28 * 28, T, generator=g), dim=1)  # [784, T]
        self.register_buffer("thresholds", ((perm.t().to(torch.float32) + 0.5) / T).contiguous())
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def spike(self, u: torch.Tensor) -> torch.Tensor:
        hard = (u > 0.0).to(u.dtype)
        if self.training:
            sg = u / (1.0 + self.slope * torch.abs(u))
            return hard + (sg - sg.detach())
        return hard

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = x.reshape(n, 28 * 28)
        mem1 = torch.zeros(n, self.hidden, dtype=x.dtype, device=x.device)
        mem2 = torch.zeros(n, 10, dtype=x.dtype, device=x.device)
        acc = torch.zeros(n, 10, dtype=x.dtype, device=x.device)
        for t in range(self.T):
            s_in = (x > self.thresholds[t]).to(x.dtype)           # deterministic rate code
            mem1 = self.beta * mem1 + self.fc1(s_in)
            s1 = self.spike(mem1 - self.v_th)
            mem1 = mem1 - s1.detach() * self.v_th                  # soft reset
            mem2 = self.beta_out * mem2 + self.fc2(s1)
            acc = acc + mem2
        return acc / float(self.T)


@torch.inference_mode()
def firing_stats(model, x):
    """Mean input and hidden firing rates (spikes per neuron per step)."""
    n = x.shape[0]
    xf = x.reshape(n, -1)
    mem1 = torch.zeros(n, model.hidden)
    sin, sh = 0.0, 0.0
    for t in range(model.T):
        s_in = (xf > model.thresholds[t]).float()
        mem1 = model.beta * mem1 + model.fc1(s_in)
        s1 = (mem1 - model.v_th > 0).float()
        mem1 = mem1 - s1 * model.v_th
        sin += float(s_in.mean())
        sh += float(s1.mean())
    return sin / model.T, sh / model.T


def main():
    out = common.outdir_from_argv()
    common.setup(SEED)
    t_start = time.perf_counter()
    x_train, y_train = common.data.load("train")
    x_test, y_test = common.data.load("test")
    model = LIFSNN()
    train_s = common.train_epochs(model, x_train, y_train, epochs=EPOCHS, lr=LR,
                                  seed=SEED, batch_size=BATCH, log=NAME)
    model.eval()
    eager_acc, _ = common.accuracy(model, x_test, y_test)
    rate_in, rate_hidden = firing_stats(model, x_test)
    scripted = torch.jit.script(model)
    code = scripted.code
    if "for t in range" not in code:
        raise SystemExit("scripted SNN lost its time loop")
    res = common.save_and_evaluate(scripted, os.path.join(out, NAME + ".pt"), x_test, y_test)
    info = {
        "name": NAME,
        "kind": "spiking MLP, leaky integrate-and-fire, surrogate-gradient trained",
        "architecture": f"deterministic rate code (T={T_STEPS}) -> fc(784->{HIDDEN}) -> LIF "
                        f"(beta 0.9, v_th 1.0, soft reset) -> fc({HIDDEN}->10) -> leaky "
                        "integrator (beta 0.9); logits = mean over time of its membrane",
        "input": "float32 [N,1,28,28] in [0,1]; encoded inside forward into T binary spike "
                 "frames: spike[t,p] = x[p] > thresholds[t,p] (fixed buffer, stratified "
                 "per-pixel permutation, pixel fires round(x*T) times)",
        "output": "logits float32 [N,10]",
        "export": "torch.jit.script (time loop kept as a scripted for-loop, prim::Loop)",
        "time_steps": T_STEPS,
        "hidden_neurons": HIDDEN,
        "input_coding": {"kind": "deterministic rate code",
                         "rule": "spike[t,p] = x[p] > (perm_p[t] + 0.5) / T",
                         "pattern_seed": CODE_SEED,
                         "buffer": "thresholds [T,784] float32"},
        "neuron": {"model": "LIF", "beta": 0.9, "threshold": 1.0, "reset": "subtract",
                   "output_beta": 0.9},
        "surrogate_gradient": f"fast sigmoid, 1/(1+{SLOPE}|u|)^2",
        "firing_rate_input": rate_in,
        "firing_rate_hidden": rate_hidden,
        "parameters": common.count_params(model),
        **res,
        "eager_test_accuracy": eager_acc,
        "training": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": "Adam",
                     "lr": LR, "train_images": int(x_train.shape[0])},
        "training_seconds": round(train_s, 2),
        "script_seconds": round(time.perf_counter() - t_start, 2),
        **common.environment(SEED),
    }
    common.write_json(os.path.join(out, NAME + ".json"), info)
    print(f"[{NAME}] test accuracy {res['test_accuracy']:.4f}, {info['parameters']} parameters, "
          f"T={T_STEPS}, hidden rate {rate_hidden:.3f}, trained in {train_s:.1f}s")


if __name__ == "__main__":
    main()
