"""Frames: render a short sequence out-of-process, then assemble a contact sheet in-process.

    frames (range: one item per frame, attribute ``frame``)
      -> settings (python processor: the ``resolution`` attribute)
      -> render (python script on the local scheduler: render_frame.py draws the frame's PNG)
      -> all (wait for all)
      -> contact_sheet (python processor: every frame, in order, tiled into contact.png)

    pdg cook frames.py                       # 8 frames at 64x64, 2 at a time
    pdg cook frames.py --set frames=12       # 4 more frames render; the first 8 are reused
    pdg show render_3                        # attributes, the PNG, the job's log
    pdg cook frames.py --scheduler dask      # the same on a Dask LocalCluster (pdgstore[dask]); or add
                                             # graph.scheduler("farm", "dask", default=True) below
"""

import os
import sys

from pdgstore.engine import Graph

graph = Graph("frames")
sys.path.insert(0, graph.root)  # for png.py, shared with the job script

import png  # noqa: E402

count = graph.parm("frames", 8, help="how many frames")
resolution = graph.parm("resolution", 64, help="width and height of a frame, in pixels")
columns = graph.parm("columns", 4, help="frames per row of the contact sheet")

graph.scheduler("local", slots=2, max_retries=1, timeout=60)
frames = graph.range_generate("frames", count, start=1, attribute="frame")


@graph.python_processor("settings", upstream=frames)
def settings(item):
    item.set_attrib("resolution", resolution)


render = graph.python_script("render", settings, "render_frame.py")
everything = graph.wait_for_all("all", render)


@graph.python_processor("contact_sheet", upstream=everything)
def contact_sheet(item):
    images = [f.path for f in item.input_files if f.tag == "file/image/png"]
    tiles = [png.read(str(p)) for p in sorted(images)]
    size = tiles[0][0]
    cols = min(columns, len(tiles))
    lines = (len(tiles) + cols - 1) // cols
    blank = b"\x20" * (size * 3)
    rows = []
    for line in range(lines):
        for y in range(size):
            row = b""
            for col in range(cols):
                index = line * cols + col
                row += tiles[index][2][y] if index < len(tiles) else blank
            rows.append(row)
    png.write("contact.png", size * cols, size * lines, rows)
    item.add_output_file("contact.png", "file/image/png")
    item.set_attrib("frames", len(tiles))
