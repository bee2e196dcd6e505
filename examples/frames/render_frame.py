"""A job script: draw one procedural frame (rings that move with the frame number) as a PNG.

It runs out-of-process, reads its work item with pdgjson (``frame``, ``resolution``) and reports the
image it wrote with ``addOutputFile``; only the standard library is needed.
"""

import math
import os

import pdgjson

import png

item = pdgjson.WorkItem.fromJobEnvironment()
frame = item.intAttribValue("frame")
size = item.intAttribValue("resolution")
rows = []
for y in range(size):
    row = bytearray()
    for x in range(size):
        dx, dy = x - size / 2, y - size / 2
        d = math.hypot(dx, dy) / size
        wave = 0.5 + 0.5 * math.sin(d * 40 - frame * 0.8)
        angle = math.atan2(dy, dx)
        row += bytes((int(255 * wave), int(128 + 127 * math.sin(angle * 3 + frame * 0.3)), int(255 * (1 - d))))
    rows.append(bytes(row))
os.makedirs("render", exist_ok=True)
out = f"render/frame_{frame:04d}.png"
png.write(out, size, size, rows)
print(f"frame {frame}: {size}x{size} -> {out}")
item.addOutputFile(out, "file/image/png")
item.setIntAttrib("pixels", size * size)
