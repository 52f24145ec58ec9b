#!/usr/bin/python3
"""Generates Quiver's test and benchmark ONNX models, deterministically, from fixed seeds.

    generate.py <name> <out.onnx>                  writes the model
    generate.py <name> --reference <out.json>      writes sample inputs and numpy-computed expected outputs
    (both may be given in one call)

The expected outputs are computed by numpy from the same weights, never by an ONNX runtime, so a test that
compares a runtime's outputs with them checks the graph against an independent implementation.

Needs python3-onnx (opset 17) and python3-numpy; exits with status 3 and names the missing package when
either is absent, so callers can tell that apart from a bug.
"""

import argparse
import json
import os
import sys

MISSING_PACKAGE_EXIT = 3

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as error:  # the caller turns this exit status into an install hint
    print(f"missing Python package: {error.name} (apt-get install python3-onnx python3-numpy)", file=sys.stderr)
    sys.exit(MISSING_PACKAGE_EXIT)

OPSET = helper.make_opsetid("", 17)
ML_OPSET = helper.make_opsetid("ai.onnx.ml", 3)
IR_VERSION = 8
REFERENCE_ROWS = 8
BATCH = "N"


def f32(array):
    return np.asarray(array, dtype=np.float32)


def init(name, array):
    return numpy_helper.from_array(array, name)


def value(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def make_model(name, nodes, inputs, outputs, initializers, ml=False, infer_shapes=True):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    opsets = [OPSET, ML_OPSET] if ml else [OPSET]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="quiver-scripts-models")
    model.ir_version = IR_VERSION
    # full_check adds strict shape inference, which onnx 1.12 cannot do for map types (ZipMap's output)
    onnx.checker.check_model(model, full_check=infer_shapes)
    return model


def he(rng, fan_in, fan_out, gain=2.0):
    """Weights that keep activations near unit scale through ReLU layers (so outputs stay unsaturated)."""
    return f32(rng.normal(0.0, np.sqrt(gain / fan_in), size=(fan_in, fan_out)))


def relu(x):
    return np.maximum(x, 0.0)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sample_features(seed, rows, width):
    """Inputs in the range the datasets use: uniform [0, 1), float32."""
    return f32(np.random.default_rng(seed).random((rows, width)))


# Each builder returns (model, reference) where reference(rows) -> (inputs, outputs), numpy arrays by name.


def on_grid(weight, fan_in, gain):
    """Weights rounded to a power-of-two step of about 1/16 of their spread: the same model to run (same
    shapes, same FLOPs), but a file xz shrinks to about a fifth (random float32 does not shrink at all), so
    the big models fit the size limit on what travels to an accelerator host; and float16 holds every such
    value exactly, so a float16 copy of the model differs from it only in its arithmetic."""
    step = 2.0 ** np.round(np.log2(np.sqrt(gain / fan_in) / 16))
    return f32(np.round(weight / step) * step)


def mlp_model(name, seed, widths, final, grid=False):
    """features [N, widths[0]] -> Gemm/Relu ... -> Gemm -> final activation -> score [N, 1]."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        gain = 1.0 if last else 2.0
        weight = he(rng, fan_in, fan_out, gain=gain)
        if grid:
            weight = on_grid(weight, fan_in, gain)
        bias = f32(rng.normal(0.0, 0.1, size=fan_out))
        layers.append((weight, bias))

    nodes, initializers = [], []
    current = "features"
    for i, (weight, bias) in enumerate(layers):
        last = i == len(layers) - 1
        initializers += [init(f"W{i}", weight), init(f"B{i}", bias)]
        out = ("logit" if final else "score") if last else f"gemm{i}"
        nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"B{i}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"]))
            out = f"relu{i}"
        current = out
    if final == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["logit"], ["score"]))

    model = make_model(
        name,
        nodes,
        [value("features", TensorProto.FLOAT, [BATCH, widths[0]])],
        [value("score", TensorProto.FLOAT, [BATCH, 1])],
        initializers,
    )

    def reference(rows):
        x = sample_features(seed + 1, rows, widths[0])
        h = x.astype(np.float64)
        for i, (weight, bias) in enumerate(layers):
            h = h @ weight.astype(np.float64) + bias
            if i < len(layers) - 1:
                h = relu(h)
        if final == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
        return {"features": x}, {"score": h}

    return model, reference


def tabular_mlp():
    return mlp_model("tabular-mlp", 101, [64, 256, 1], "sigmoid")


def tabular_mlp_v2():
    """The tabular MLP retrained: same shape and cost, other weights (the challenger of a model rollout)."""
    return mlp_model("tabular-mlp-v2", 102, [64, 256, 1], "sigmoid")


def compute_heavy():
    return mlp_model("compute-heavy", 505, [64, 2048, 2048, 1], None, grid=True)


def compute_heavy_fp16():
    """compute-heavy with its weights and activations in float16 (half the memory traffic, the GPU's
    fast path), float32 in and out so it drops in for the fp32 model. The reference stays the fp32 model's,
    so comparing with it measures what float16 loses."""
    model, reference = compute_heavy()
    graph = model.graph
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor).astype(np.float16)
        tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    nodes = list(graph.node)
    nodes[0].input[0] = "features16"
    nodes[-1].output[0] = "score16"
    cast_in = helper.make_node("Cast", ["features"], ["features16"], to=TensorProto.FLOAT16)
    cast_out = helper.make_node("Cast", ["score16"], ["score"], to=TensorProto.FLOAT)
    del graph.node[:]
    graph.node.extend([cast_in, *nodes, cast_out])
    graph.name = "compute-heavy-fp16"
    onnx.checker.check_model(model, full_check=True)
    return model, reference


def tree_ensemble(trees=200, depth=6, features=64, seed=202):
    """A TreeEnsembleRegressor shaped like an XGBoost export: complete binary trees, BRANCH_LT splits on
    random features at thresholds in the data's range, small leaf weights summed onto a base score."""
    rng = np.random.default_rng(seed)
    internal = 2**depth - 1
    per_tree = 2 ** (depth + 1) - 1
    split_features = rng.integers(0, features, size=(trees, internal))
    thresholds = f32(rng.uniform(0.05, 0.95, size=(trees, internal)))
    leaf_weights = f32(rng.normal(0.0, 0.05, size=(trees, per_tree - internal)))
    base = 0.5

    nodes_treeids, nodes_nodeids, nodes_featureids, nodes_values, nodes_modes = [], [], [], [], []
    nodes_true, nodes_false, target_treeids, target_nodeids, target_weights = [], [], [], [], []
    for t in range(trees):
        for n in range(per_tree):
            nodes_treeids.append(t)
            nodes_nodeids.append(n)
            if n < internal:
                nodes_featureids.append(int(split_features[t, n]))
                nodes_values.append(float(thresholds[t, n]))
                nodes_modes.append("BRANCH_LT")
                nodes_true.append(2 * n + 1)
                nodes_false.append(2 * n + 2)
            else:
                nodes_featureids.append(0)
                nodes_values.append(0.0)
                nodes_modes.append("LEAF")
                nodes_true.append(0)
                nodes_false.append(0)
                target_treeids.append(t)
                target_nodeids.append(n)
                target_weights.append(float(leaf_weights[t, n - internal]))

    node = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["score"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=[base],
        nodes_treeids=nodes_treeids,
        nodes_nodeids=nodes_nodeids,
        nodes_featureids=nodes_featureids,
        nodes_values=nodes_values,
        nodes_modes=nodes_modes,
        nodes_truenodeids=nodes_true,
        nodes_falsenodeids=nodes_false,
        nodes_missing_value_tracks_true=[0] * len(nodes_nodeids),
        nodes_hitrates=[1.0] * len(nodes_nodeids),
        target_treeids=target_treeids,
        target_nodeids=target_nodeids,
        target_ids=[0] * len(target_nodeids),
        target_weights=target_weights,
    )
    model = make_model(
        "tree-ensemble",
        [node],
        [value("features", TensorProto.FLOAT, [BATCH, features])],
        [value("score", TensorProto.FLOAT, [BATCH, 1])],
        [],
        ml=True,
    )

    def reference(rows):
        x = sample_features(seed + 1, rows, features)
        score = np.full(rows, base, dtype=np.float64)
        for r in range(rows):
            for t in range(trees):
                n = 0
                while n < internal:
                    # float32 against float32, as the runtime compares them
                    n = 2 * n + 1 if x[r, split_features[t, n]] < thresholds[t, n] else 2 * n + 2
                score[r] += leaf_weights[t, n - internal]
        return {"features": x}, {"score": score.reshape(rows, 1)}

    return model, reference


def multiclass(features=32, hidden=64, classes=5, seed=303):
    """features [N, 32] -> MLP -> Softmax -> probabilities [N, 5], and ArgMax -> label int64 [N]."""
    rng = np.random.default_rng(seed)
    w0, b0 = he(rng, features, hidden), f32(rng.normal(0.0, 0.1, size=hidden))
    w1, b1 = he(rng, hidden, classes, gain=1.0), f32(rng.normal(0.0, 0.1, size=classes))
    nodes = [
        helper.make_node("Gemm", ["features", "W0", "B0"], ["gemm0"]),
        helper.make_node("Relu", ["gemm0"], ["relu0"]),
        helper.make_node("Gemm", ["relu0", "W1", "B1"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    model = make_model(
        "multiclass",
        nodes,
        [value("features", TensorProto.FLOAT, [BATCH, features])],
        [
            value("probabilities", TensorProto.FLOAT, [BATCH, classes]),
            value("label", TensorProto.INT64, [BATCH]),
        ],
        [init("W0", w0), init("B0", b0), init("W1", w1), init("B1", b1)],
    )

    def reference(rows):
        x = sample_features(seed + 1, rows, features)
        p = softmax(relu(x.astype(np.float64) @ w0 + b0) @ w1 + b1)
        return {"features": x}, {"probabilities": p, "label": p.argmax(axis=1).astype(np.int64)}

    return model, reference


def int64_input(id_columns=4, features=8, seed=404):
    """ids int64 [N, 4] and features float32 [N, 8] -> Cast, Concat, linear -> score float32 [N] (1-D)."""
    rng = np.random.default_rng(seed)
    # ids run to ~1000, so their weights are ~1000x smaller to keep both inputs' contributions comparable
    w = f32(np.concatenate([rng.normal(0.0, 1e-3, size=id_columns), rng.normal(0.0, 0.3, size=features)]))
    w = w.reshape(-1, 1)
    b = f32([0.25])
    nodes = [
        helper.make_node("Cast", ["ids"], ["ids_float"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["ids_float", "features"], ["joined"], axis=1),
        helper.make_node("Gemm", ["joined", "W", "B"], ["linear"]),
        helper.make_node("Squeeze", ["linear", "squeeze_axes"], ["score"]),
    ]
    model = make_model(
        "int64-input",
        nodes,
        [
            value("ids", TensorProto.INT64, [BATCH, id_columns]),
            value("features", TensorProto.FLOAT, [BATCH, features]),
        ],
        [value("score", TensorProto.FLOAT, [BATCH])],
        [init("W", w), init("B", b), init("squeeze_axes", np.array([1], dtype=np.int64))],
    )

    def reference(rows):
        ids = np.random.default_rng(seed + 1).integers(0, 1000, size=(rows, id_columns), dtype=np.int64)
        x = sample_features(seed + 2, rows, features)
        joined = np.concatenate([ids.astype(np.float64), x.astype(np.float64)], axis=1)
        return {"ids": ids, "features": x}, {"score": (joined @ w.astype(np.float64) + b).reshape(rows)}

    return model, reference


def zipmap_classifier(features=4, classes=3, seed=606):
    """An sklearn-style export: LinearClassifier -> output_label int64 [N], and its probabilities through
    ZipMap -> output_probability seq(map(int64, float)), a non-tensor output."""
    rng = np.random.default_rng(seed)
    coefficients = f32(rng.normal(0.0, 1.0, size=(classes, features)))
    # centre each class's score over the [0, 1) inputs so every class gets predicted somewhere
    intercepts = f32(-0.5 * coefficients.sum(axis=1) + rng.normal(0.0, 0.2, size=classes))
    labels = list(range(classes))
    nodes = [
        helper.make_node(
            "LinearClassifier",
            ["features"],
            ["output_label", "probability_tensor"],
            domain="ai.onnx.ml",
            classlabels_ints=labels,
            coefficients=[float(c) for c in coefficients.reshape(-1)],
            intercepts=[float(i) for i in intercepts],
            multi_class=0,
            post_transform="SOFTMAX",
        ),
        helper.make_node(
            "ZipMap", ["probability_tensor"], ["output_probability"], domain="ai.onnx.ml", classlabels_int64s=labels
        ),
    ]
    # onnx 1.12's helper has no make_map_type_proto; the map's value type is a float tensor, as in skl2onnx
    probability_map = onnx.TypeProto()
    probability_map.map_type.key_type = TensorProto.INT64
    probability_map.map_type.value_type.tensor_type.elem_type = TensorProto.FLOAT
    zipped = helper.make_value_info("output_probability", helper.make_sequence_type_proto(probability_map))
    model = make_model(
        "zipmap-classifier",
        nodes,
        [value("features", TensorProto.FLOAT, [BATCH, features])],
        [value("output_label", TensorProto.INT64, [BATCH]), zipped],
        [],
        ml=True,
        infer_shapes=False,
    )

    def reference(rows):
        x = sample_features(seed + 1, rows, features)
        p = softmax(x.astype(np.float64) @ coefficients.T.astype(np.float64) + intercepts)
        return {"features": x}, {"output_label": p.argmax(axis=1).astype(np.int64), "output_probability": p}

    return model, reference


MODELS = {
    "tabular-mlp": tabular_mlp,
    "tabular-mlp-v2": tabular_mlp_v2,
    "tree-ensemble": tree_ensemble,
    "multiclass": multiclass,
    "int64-input": int64_input,
    "compute-heavy": compute_heavy,
    "compute-heavy-fp16": compute_heavy_fp16,
    "zipmap-classifier": zipmap_classifier,
}


def as_json(array):
    array = np.asarray(array)
    if array.dtype.kind == "f":
        data = [float(v) for v in array.reshape(-1)]
        kind = "float32" if array.dtype == np.float32 else "float64"
    else:
        data = [int(v) for v in array.reshape(-1)]
        kind = "int64"
    return {"type": kind, "dims": list(array.shape), "data": data}


def write_atomically(path, write):
    """Writes beside the target and renames, so a reader never sees half a file."""
    partial = f"{path}.{os.getpid()}.partial"
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(MODELS))
    parser.add_argument("out", nargs="?", help="where to write the .onnx model")
    parser.add_argument("--reference", metavar="JSON", help="where to write sample inputs and expected outputs")
    parser.add_argument("--rows", type=int, default=REFERENCE_ROWS, help="rows in the reference sample")
    args = parser.parse_args()
    if args.out is None and args.reference is None:
        parser.error("give an output path for the model, --reference, or both")

    model, reference = MODELS[args.name]()
    if args.out is not None:
        write_atomically(args.out, lambda path: onnx.save_model(model, path))
    if args.reference is not None:
        inputs, outputs = reference(args.rows)
        document = {
            "model": args.name,
            "rows": args.rows,
            "inputs": {k: as_json(v) for k, v in inputs.items()},
            "outputs": {k: as_json(v) for k, v in outputs.items()},
        }

        def dump(path):
            with open(path, "w", encoding="utf-8") as file:
                json.dump(document, file)

        write_atomically(args.reference, dump)


if __name__ == "__main__":
    main()
