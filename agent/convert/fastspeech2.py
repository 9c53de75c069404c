"""Make the bundled Mandarin FastSpeech2 (TFLite) deterministic and runnable on plain LiteRT.

The published export kept two dropout layers in training mode (on the f0 and energy embeddings):
each draws a ``RandomUniform`` mask, a TensorFlow "Flex" op the small LiteRT runtime does not
have, and scales the kept half by 2. ``inference_model`` rewrites the flatbuffer so each mask
compares the keep threshold with itself (always kept) and the scale is 1: exactly the layer in
inference mode. Nothing else in the graph changes.
"""

from __future__ import annotations

import logging

import numpy as np

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

RANDOM_OP = "FlexRandomUniform"


def inference_model(model: bytes) -> bytes:
    """The model with its training-mode dropouts turned into the identity."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    graph = tree.subgraphs[0]
    random_ops = [i for i, op in enumerate(graph.operators) if _op_name(tree, op) == RANDOM_OP]
    if not random_ops:
        return model  # already in inference mode
    for index in random_ops:
        _keep_everything(tree, graph, graph.operators[index].outputs[0])
    graph.operators = [op for i, op in enumerate(graph.operators) if i not in set(random_ops)]
    builder = flatbuffers.Builder(len(model) + (1 << 20))
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    logger.info("FastSpeech2: %d training-mode dropouts set to inference", len(random_ops))
    return bytes(builder.Output())


def _op_name(tree, op) -> str:
    code = tree.operatorCodes[op.opcodeIndex]
    return code.customCode.decode() if code.customCode else ""


def _keep_everything(tree, graph, random_tensor: int) -> None:
    """mask = threshold >= threshold (all kept); x * scale -> x * 1."""
    compare = _only_user(graph, random_tensor)
    threshold = int(compare.inputs[1])
    compare.inputs = np.array([threshold, threshold], dtype=np.int32)
    mask = _only_user(graph, _only_user(graph, int(compare.outputs[0])).outputs[0])  # cast, mul
    scaled = int(mask.inputs[0])  # dropout/Mul: x * scale
    scale_mul = next(op for op in graph.operators if int(op.outputs[0]) == scaled)
    scale = graph.tensors[int(scale_mul.inputs[1])]
    tree.buffers[scale.buffer].data = np.frombuffer(np.float32(1.0).tobytes(), dtype=np.uint8)


def _only_user(graph, tensor: int):
    users = [op for op in graph.operators if tensor in [int(i) for i in op.inputs]]
    if len(users) != 1:
        raise ParlaError(f"unexpected FastSpeech2 graph: tensor {tensor} has {len(users)} users")
    return users[0]
