"""The TOP network of seed 004 ("Introduction to TOPs", simplified example), cooked for real:

    wedge        4 variants of pixelsamples (1, 4, 9, 16)                  Wedge
    render       frames 1-5 for each variant: 20 items                     ROP frame range
    shade        draws each (variant, frame) with that many samples        python processor
    byframe      the 4 variants of each frame together: 5 partitions       Partition by Frame
    mosaic       a contact sheet per frame, by a Python job                python script (out-of-process)
    done         waits for every sheet                                     Wait for All
    report       lists the sheets once all are done                        python processor

    pdg cook examples/wedge_frames/wedge_frames.py                    # cooks in a few seconds
    pdg cook examples/wedge_frames/wedge_frames.py --generate-only    # the 56 static items, per node
    pdg cook examples/wedge_frames/wedge_frames.py --set end=6        # one more frame: one more chain
    pdg show mosaic_3                                                 # frame 3's sheet and its job log

Every node is static here (Generate When: automatic), so all items are known before anything runs.
Outputs go to renders/ and sheets/ beside this file (git-ignored).
"""

import math
import os
import sys

from pdgstore.engine import Graph, wedge_values

graph = Graph("wedge_frames")
sys.path.insert(0, graph.root)  # for png.py, shared with the job script

import png  # noqa: E402

size = graph.parm("size", 48, help="width and height of a frame, in pixels")
end = graph.parm("end", 5, help="the last frame")

graph.scheduler("local", slots=2, max_retries=0, timeout=60)
wedge = graph.wedge("wedge", attributes=[wedge_values("pixelsamples", [1, 4, 9, 16])])
render = graph.frame_range("render", wedge, start=1, end=end)


def brightness(x: float, y: float, frame: int) -> float:
    """A ring pattern that moves with the frame: sharp edges show how sampling smooths them."""
    d = math.hypot(x - 0.5, y - 0.5)
    return 1.0 if math.sin(d * 60 - frame * 0.9) > 0 else 0.0


@graph.python_processor("shade", upstream=render)
def shade(item):
    samples = item["pixelsamples"]
    frame = item["frame"]
    side = int(math.isqrt(samples))
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            total = 0.0
            for sy in range(side):
                for sx in range(side):
                    total += brightness((px + (sx + 0.5) / side) / size, (py + (sy + 0.5) / side) / size, frame)
            v = int(255 * total / (side * side))
            row += bytes((v, v // 2 + 64, 255 - v))
        rows.append(bytes(row))
    os.makedirs("renders", exist_ok=True)
    out = f"renders/ps{samples:02d}_f{frame:04d}.png"
    png.write(out, size, size, rows)
    item.add_output_file(out, "file/image/png")


byframe = graph.partition_by_frame("byframe", shade)
mosaic = graph.python_script("mosaic", byframe, "mosaic.py", expected_outputs="sheets/frame_$F4.png")
done = graph.wait_for_all("done", mosaic)


@graph.python_processor("report", upstream=done)
def report(item):
    sheets = sorted(f.relpath for f in item.input_files if f.tag == "file/image/png")
    with open("sheets/index.txt", "w") as f:
        f.write("\n".join(sheets) + "\n")
    item.add_output_file("sheets/index.txt")
    item.set_attrib("sheets", len(sheets))
