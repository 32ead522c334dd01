"""Draw a scene with Pillow: 48 px for the model, 256 px for people, same layout."""

from PIL import Image, ImageDraw

from synthetic.scenes import COLUMNS, ROWS, Scene, SceneObject

MODEL_SIZE = 48  # 3x3 cells of 16 px: one 16 px patch per cell
HUMAN_SIZE = 256
BACKGROUND = (255, 255, 255)
RGB = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "yellow": (235, 200, 0),
}
# Fraction of a grid cell that an object's bounding box spans.
EXTENT = {"small": 0.55, "large": 0.9}


def render(scene: Scene, size: int = MODEL_SIZE) -> Image.Image:
    """An RGB image of ``size`` x ``size`` pixels; the grid is 3x3 cells."""
    # Drawn 8x larger and downsampled, so small renders are anti-aliased.
    canvas = Image.new("RGB", (size * 8, size * 8), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for scene_object in scene.objects:
        _draw_object(draw, scene_object, cell=size * 8 / 3)
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def _draw_object(draw: ImageDraw.ImageDraw, scene_object: SceneObject, *, cell: float) -> None:
    centre_x = (COLUMNS.index(scene_object.column) + 0.5) * cell
    centre_y = (ROWS.index(scene_object.row) + 0.5) * cell
    half = EXTENT[scene_object.size] * cell / 2
    box = (centre_x - half, centre_y - half, centre_x + half, centre_y + half)
    fill = RGB[scene_object.colour]
    if scene_object.shape == "circle":
        draw.ellipse(box, fill=fill)
    elif scene_object.shape == "square":
        draw.rectangle(box, fill=fill)
    else:  # triangle, apex up
        draw.polygon([(centre_x, box[1]), (box[2], box[3]), (box[0], box[3])], fill=fill)
