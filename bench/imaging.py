"""Encoding, decoding and lettering: what the copies are made with, and the benchmarks read."""

import io

from PIL import Image, ImageDraw, ImageFont

# What a re-posting site typically re-encodes at; used unless a transform says otherwise.
JPEG_QUALITY = 88

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def jpeg_bytes(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def full_decode(data: bytes) -> Image.Image:
    """Every pixel of the file, as RGB: how the baselines (and the transforms) read a file."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def load_font(size: float) -> Font:
    return ImageFont.load_default(size=max(8, round(size)))


def _fit_text(text: str, width: float, height: float) -> tuple[list[str], Font]:
    """The largest default font that sets `text` in one or two centred lines inside the box."""
    words = text.split()
    middle = max(1, len(words) // 2)
    layouts = [[text], [" ".join(words[:middle]), " ".join(words[middle:])]]
    best: tuple[list[str], Font] | None = None
    best_size = 0.0
    for lines in layouts:
        size = height * 0.78 / len(lines) / 1.15
        while size > 8:
            font = load_font(size)
            if all(font.getlength(line) <= width for line in lines):
                break
            size *= 0.92
        if size > best_size:
            best, best_size = (lines, load_font(size)), size
    return best if best is not None else ([text], load_font(8))


def draw_lines(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    text: str,
    fill: RGB | tuple[int, int, int, int],
) -> None:
    left, top, right, bottom = box
    lines, font = _fit_text(text, right - left, bottom - top)
    step = (bottom - top) / len(lines)
    for i, line in enumerate(lines):
        draw.text(
            ((left + right) / 2, top + step * (i + 0.5)), line, font=font, fill=fill, anchor="mm"
        )


def scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def crop_keeping(image: Image.Image, keep: float, anchor: tuple[float, float]) -> Image.Image:
    width, height = image.size
    crop_w, crop_h = max(1, round(width * keep)), max(1, round(height * keep))
    left, top = round((width - crop_w) * anchor[0]), round((height - crop_h) * anchor[1])
    return image.crop((left, top, left + crop_w, top + crop_h))
