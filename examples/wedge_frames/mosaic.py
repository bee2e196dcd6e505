"""A job script: the contact sheet of one frame, its wedge variants side by side, left to right
from the fewest pixel samples to the most. It reads its work item (a partition by frame, whose
input files are its members' images) with pdgjson and reports the sheet with addOutputFile."""

import os

import pdgjson

import png

item = pdgjson.WorkItem.fromJobEnvironment()
frame = int(item.frame)
images = sorted(f.path for f in item.inputFiles if f.path.endswith(".png"))
tiles = [png.read(path) for path in images]
size = tiles[0][0]
rows = [b"".join(tile[2][y] for tile in tiles) for y in range(size)]
os.makedirs("sheets", exist_ok=True)
out = f"sheets/frame_{frame:04d}.png"
png.write(out, size * len(tiles), size, rows)
print(f"frame {frame}: {len(tiles)} variants -> {out}")
item.addOutputFile(out, "file/image/png")
item.setIntAttrib("variants", len(tiles))
