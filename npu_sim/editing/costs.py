"""What editing computes, counted from the model's shape, and costed with npu_sim's cost model
(performance.npu_cost on the NPU profile, firmware_sim's roofline cpu_cost on the CPU profile).

Counting follows the code that runs: reference.py / tf_model.py compute full T x T attention
scores (masked), logits for the target rows in the backpropagation forward pass, and the
editing kernel computes the layers after the edit layer for the suffix rows only and the head
for the target rows only. The backward pass needs gradients with respect to activations only
(the weights are frozen; the only trainable tensor is delta), so each weight matrix costs its
forward MACs once more, and each attention product twice (both operands carry gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.cost.roofline import Cost, cpu_cost
from firmware_sim.devices.cpu import CpuProfile
from npu_sim.devices import NpuProfile
from npu_sim.llm.model import LlamaConfig
from npu_sim.performance import invoke_cost, npu_cost

F32, I16, I8 = 4, 2, 1


def forward_macs(cfg: LlamaConfig, tokens: int, head_rows: int | None = None) -> int:
    """A full forward pass over `tokens` tokens, with logits for `head_rows` rows (all)."""
    rows = tokens if head_rows is None else head_rows
    return layers_macs(cfg, cfg.n_layers, tokens, tokens) + rows * cfg.dim * cfg.vocab


def layers_macs(cfg: LlamaConfig, n_layers: int, queries: int, keys: int) -> int:
    """`n_layers` blocks over `queries` rows, each attending to `keys` keys."""
    return n_layers * (cfg.layer_linear_macs(queries) + cfg.attention_macs(queries, keys))


def kernel_macs(cfg: LlamaConfig, layer: int, prefix: int, suffix: int, out_rows: int) -> int:
    """The editing kernel: the layers after `layer` over `suffix` rows against prefix + suffix
    keys, and the head for `out_rows` rows."""
    return (layers_macs(cfg, cfg.n_layers - layer - 1, suffix, prefix + suffix)
            + out_rows * cfg.dim * cfg.vocab)


# -- backpropagation on the CPU ---------------------------------------------------------------
def saved_floats_per_token(cfg: LlamaConfig, keys: int) -> int:
    """Activations one block keeps for its backward pass, per token (float32 values): the
    block input and the two RMSNorm outputs and inputs, q, k, v, the attention output, the
    attention probabilities, and the SwiGLU gate, up and product."""
    return (4 * cfg.dim + cfg.q_dim + 2 * cfg.kv_dim + cfg.q_dim + cfg.n_heads * keys
            + 3 * cfg.ffn)


@dataclass(frozen=True)
class BpStep:
    """One Adam step of v* by backpropagation over a batch of sequences."""

    forward_macs: int
    backward_macs: int
    activation_bytes: int         # stored for the backward pass
    gradient_bytes: int           # peak activation-gradient buffers
    optimizer_bytes: int          # delta, its gradient, Adam m and v
    weight_bytes: int             # float32 weights
    dram_bytes: int               # traffic of one step

    @property
    def macs(self) -> int:
        return self.forward_macs + self.backward_macs

    @property
    def memory_bytes(self) -> int:
        return (self.weight_bytes + self.activation_bytes + self.gradient_bytes
                + self.optimizer_bytes)


def bp_step(cfg: LlamaConfig, layer: int, lengths: list[int],
            head_rows: list[int] | None = None) -> BpStep:
    """Counts for one step over sequences of `lengths` tokens with logits for `head_rows` rows
    each (the target rows), delta entering after `layer`."""
    after = cfg.n_layers - layer - 1
    heads = head_rows or lengths
    fwd = sum(forward_macs(cfg, t, r) for t, r in zip(lengths, heads))
    bwd = sum(after * (cfg.layer_linear_macs(t) + 2 * cfg.attention_macs(t, t))
              + r * cfg.dim * cfg.vocab for t, r in zip(lengths, heads))
    acts = sum(t * (after * saved_floats_per_token(cfg, t) + 2 * cfg.dim) + r * cfg.vocab
               for t, r in zip(lengths, heads)) * F32
    longest = max(lengths)
    grads = (max(heads) * cfg.vocab + 2 * longest * max(cfg.dim, cfg.ffn)) * F32
    opt = 4 * cfg.dim * F32
    weights = cfg.n_params * F32
    after_weights = (after * cfg.layer_params + cfg.vocab * cfg.dim) * F32
    dram = weights + after_weights + 2 * acts
    return BpStep(fwd, bwd, acts, grads, opt, weights, dram)


@dataclass(frozen=True)
class Totals:
    """A whole edit: memory (peak bytes), latency (s), energy (J), MACs, forward passes."""

    memory_bytes: int
    latency_s: float
    energy_j: float
    macs: int
    forward_passes: int
    parts: dict


def bp_totals(cfg: LlamaConfig, cpu: CpuProfile, layer: int, lengths: list[int],
              steps: int, head_rows: list[int] | None = None) -> Totals:
    """Costs of `steps` backpropagation steps on the mobile CPU."""
    s = bp_step(cfg, layer, lengths, head_rows)
    c = cpu_cost(cpu, macs=s.macs, precision="fp32", dram_bytes=s.dram_bytes)
    return Totals(s.memory_bytes, c.time_s * steps, c.energy_j * steps, s.macs * steps,
                  steps * len(lengths), {
                      "device": cpu.name, "steps": steps, "sequences": lengths,
                      "head_rows": head_rows or lengths,
                      "step_forward_macs": s.forward_macs, "step_backward_macs": s.backward_macs,
                      "weight_bytes": s.weight_bytes, "activation_bytes": s.activation_bytes,
                      "gradient_bytes": s.gradient_bytes, "optimizer_bytes": s.optimizer_bytes,
                      "step_latency_s": c.time_s, "step_energy_j": c.energy_j,
                      "bound": c.bound})


# -- MobiEdit on the NPU ----------------------------------------------------------------------
@dataclass(frozen=True)
class KernelCost:
    """One forward pass of an editing kernel on the NPU."""

    macs: int
    latency_s: float
    energy_j: float
    session_bytes: int            # graph + activation arena


def kernel_cost_from_config(cfg: LlamaConfig, npu: NpuProfile, layer: int, prefix: int,
                            suffix: int, out_rows: int, ops_per_layer: float = 40.0,
                            weight_bits: int = 8, act_bits: int = 16,
                            batch: int = 1, seqs: int = 1) -> KernelCost:
    """The editing kernel costed from the config alone, operator by operator as check()
    costs a graph: weight matrices at a{act}w{weight}, attention products at a16w16,
    the other `ops_per_layer` - 9 operators per block on the vector unit. `batch` > 1 costs
    one invocation that runs `batch` deltas at once (e.g. all 2 x directions perturbations
    of a ZO step) on each of `seqs` sequences (the edit prompt in its context templates):
    the matrices and the head see `batch` x `seqs` x the rows, each (delta, sequence)
    attends over its own suffix and its sequence's prefix, the weights are read once and
    each sequence's prefix cache once."""
    n = cfg.n_layers - layer - 1
    groups = batch * seqs
    rows, head_rows = suffix * groups, out_rows * groups
    wb = weight_bits / 8
    layer_w = int((cfg.layer_params - 2 * cfg.dim) * wb)
    head_w = int(cfg.vocab * cfg.dim * wb)
    weights = n * layer_w + head_w
    keys = prefix + suffix
    a = act_bits // 8
    arena = a * (rows * (3 * cfg.ffn + 4 * cfg.dim + cfg.n_heads * keys)
                 + head_rows * cfg.vocab) + n * 2 * seqs * prefix * cfg.kv_dim * a
    resident = weights + arena <= npu.vtcm.size_bytes
    prec = f"a{act_bits}w{weight_bits}"
    costs: list[Cost] = [invoke_cost(npu)]
    mats = [(cfg.dim, cfg.q_dim), (cfg.dim, cfg.kv_dim), (cfg.dim, cfg.kv_dim),
            (cfg.q_dim, cfg.dim), (cfg.dim, cfg.ffn), (cfg.dim, cfg.ffn), (cfg.ffn, cfg.dim)]
    for _ in range(n):
        for fan_in, fan_out in mats:
            w = int(fan_in * fan_out * wb)
            act = rows * (fan_in + fan_out) * a
            costs.append(npu_cost(npu, macs=rows * fan_in * fan_out, precision=prec,
                                  vtcm_bytes=act + (w if resident else 0),
                                  dram_bytes=0 if resident else w))
        att = groups * cfg.attention_macs(suffix, keys) // 2
        for _ in range(2):
            costs.append(npu_cost(npu, macs=att, precision="a16w16",
                                  vtcm_bytes=groups * a * (suffix * cfg.q_dim + keys * cfg.kv_dim
                                                          + cfg.n_heads * suffix * keys)))
        for _ in range(max(0, int(round(ops_per_layer)) - 9)):
            costs.append(npu_cost(npu, vector_bytes=rows * cfg.dim * a,
                                  vtcm_bytes=2 * rows * cfg.dim * a))
    costs.append(npu_cost(npu, macs=head_rows * cfg.dim * cfg.vocab, precision=prec,
                          vtcm_bytes=head_rows * (cfg.dim + cfg.vocab) * a
                          + (head_w if resident else 0),
                          dram_bytes=(0 if resident else head_w) + head_rows * cfg.vocab * a))
    return KernelCost(groups * kernel_macs(cfg, layer, prefix, suffix, out_rows),
                      sum(c.time_s for c in costs), sum(c.energy_j for c in costs),
                      weights + arena)


def prefix_pass_cost(cfg: LlamaConfig, npu: NpuProfile, tokens: int) -> Cost:
    """The one forward pass that fills the prefix cache (all layers over the prompt, W8A16,
    weights streamed from DRAM once)."""
    weights = cfg.n_params - (0 if cfg.tied else cfg.vocab * cfg.dim)
    macs = layers_macs(cfg, cfg.n_layers, tokens, tokens)
    acts = tokens * cfg.n_layers * (4 * cfg.dim + 3 * cfg.ffn) * I16
    return npu_cost(npu, macs=macs, precision="a16w8", vtcm_bytes=acts,
                    dram_bytes=weights * I8, overhead_s=npu.invoke_s)


def cache_bytes(cfg: LlamaConfig, layer: int, prefix: int, suffix: int) -> int:
    """The prefix cache in int16: later layers' K and V of the prefix, and the suffix's
    residual stream after the edit layer."""
    return (2 * (cfg.n_layers - layer - 1) * prefix * cfg.kv_dim + suffix * cfg.dim) * I16


def mobiedit_memory(cfg: LlamaConfig, layer: int, kernel_session: int, prefix: int,
                    suffix: int) -> dict:
    """Peak memory of a MobiEdit edit: the kernel's NPU session, the int8 layers up to the
    edit layer and the embedding (for the prefix pass), the prefix cache, and the ZO state
    (delta, a direction, the gradient estimate and v_init in float32)."""
    lower = (layer + 1) * cfg.layer_params * I8 + cfg.vocab * cfg.dim * I8
    parts = {"kernel_session_bytes": int(kernel_session), "lower_layers_bytes": int(lower),
             "prefix_cache_bytes": cache_bytes(cfg, layer, prefix, suffix),
             "zo_state_bytes": 4 * cfg.dim * F32}
    parts["total"] = sum(parts.values())
    return parts
