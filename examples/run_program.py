"""Run a visual program from Python (no LLM involved) and save its trace as HTML and JSON.

Run: .venv/bin/python examples/run_program.py
"""

from __future__ import annotations

from ask_bus import bus_image
from visorch import Runtime

PROGRAM = """
BOX0=LOC(image=IMAGE, object='bus')
IMAGE0=CROP_LEFTOF(image=IMAGE, box=BOX0)
BOX1=LOC(image=IMAGE0, object='person')
ANSWER0=COUNT(box=BOX1)
FINAL=RESULT(var=ANSWER0)
"""


def main() -> None:
    runtime = Runtime.create()
    try:
        inputs = runtime.load_inputs(images={"IMAGE": bus_image()})
        trace = runtime.run_program(PROGRAM, inputs)
        print(trace)
        print("people left of the bus:", trace.result)
        trace.save_html("left-of-bus.html")
        trace.save_json("left-of-bus.json")
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
