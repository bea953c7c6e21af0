"""A small helper to write ONNX graphs node by node with unique names (for models no converter handles well)."""

from __future__ import annotations

from typing import Any

import numpy as np

OPSET, ML_OPSET = 21, 5  # TreeEnsemble needs ai.onnx.ml 5 (onnxruntime >= 1.20)


class GraphBuilder:
    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, value: Any, hint: str = "const") -> str:
        from onnx import numpy_helper

        array = np.asarray(value)
        if array.dtype.kind in "UO":  # text: ONNX strings are bytes
            array = array.astype(object)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, domain: str = "", **attributes: Any) -> str:
        output = self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=self.name(op_type), domain=domain,
                                                **attributes))
        return output

    def add_node(self, node: Any) -> None:
        self.nodes.append(node)

    def add_input(self, name: str, elem_type: int, shape: list[Any]) -> str:
        self.inputs.append(self.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, source: str, name: str, elem_type: int, shape: list[Any]) -> None:
        self.nodes.append(self.helper.make_node("Identity", [source], [name], name=self.name("output")))
        self.outputs.append(self.helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, graph_name: str) -> Any:
        import onnx

        graph = self.helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers)
        model = self.helper.make_model(graph, producer_name="kdistill", opset_imports=[
            self.helper.make_opsetid("", OPSET), self.helper.make_opsetid("ai.onnx.ml", ML_OPSET)])
        model.ir_version = 10  # onnxruntime 1.20+ reads IR 10
        onnx.checker.check_model(model, full_check=True)
        return model
