"""The synthetic social-media post screenshot a leaked photo is pasted into."""

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from bench.imaging import RGB, load_font, png_bytes

SCREENSHOT_SHARE = 0.6  # share of the screenshot canvas's area covered by the picture


@dataclass(frozen=True)
class _Theme:
    app: str
    background: RGB
    bar: RGB
    bar_ink: RGB
    accent: RGB


SCREEN_THEMES = (
    _Theme("Pictogram", (242, 243, 245), (255, 255, 255), (20, 20, 20), (225, 48, 108)),
    _Theme("FriendBook", (240, 242, 245), (24, 119, 242), (255, 255, 255), (24, 119, 242)),
    _Theme("Chirper", (247, 249, 249), (29, 155, 240), (255, 255, 255), (29, 155, 240)),
    _Theme("TechLeaks News", (250, 250, 250), (33, 37, 41), (255, 255, 255), (220, 53, 69)),
)
SCREEN_NAMES = ("Alex Rivera", "gadget_insider", "Sam Okafor", "leakhunter99", "Mira Chen")
SCREEN_TEXT = (
    "You won't believe what just showed up in my inbox",
    "Is this the new one?? Looks real to me",
    "Source says this ships in March. Thoughts?",
    "Not supposed to post this but here we go",
)
SCREEN_COMMENTS = ("no way this is real", "want!!", "fake, the logo is wrong", "source?")


def screenshot_frame(image: Image.Image, rng: random.Random, host: Image.Image) -> bytes:
    """The picture inside a synthetic social-media post screenshot (status and app bar, avatar circle, name and text lines, like/comment/share buttons, comments, light background), covering 60% of the canvas area, saved as PNG."""
    theme = rng.choice(SCREEN_THEMES)
    shown_w = rng.randint(520, 680)
    shown_h = max(1, round(image.height * shown_w / image.width))
    margin = round(0.05 * shown_w)
    width = shown_w + 2 * margin
    height = round(shown_w * shown_h / (SCREENSHOT_SHARE * width))
    extra = height - shown_h
    top = round(extra * 0.58)  # status bar, app bar and post header above the picture
    bottom = extra - top  # buttons and comments below it
    canvas = Image.new("RGB", (width, height), theme.background)
    draw = ImageDraw.Draw(canvas)
    grey, dark = (101, 103, 107), (28, 30, 33)

    bar = round(top * 0.36)
    draw.rectangle((0, 0, width, bar), fill=theme.bar)
    status = round(bar * 0.35)
    draw.text(
        (margin, status / 2), "9:41", font=load_font(status * 0.7), fill=theme.bar_ink, anchor="lm"
    )
    draw.rectangle(
        (width - margin - status * 1.8, status * 0.25, width - margin, status * 0.75),
        outline=theme.bar_ink,
        fill=theme.bar_ink,
    )
    draw.text(
        (margin, (status + bar) / 2),
        theme.app,
        font=load_font((bar - status) * 0.55),
        fill=theme.bar_ink,
        anchor="lm",
    )
    draw.line((0, bar, width, bar), fill=(218, 220, 224), width=1)

    card_top = bar + max(2, round(top * 0.05))
    draw.rectangle((margin // 2, card_top, width - margin // 2, height - 2), fill=(255, 255, 255))
    header = top - card_top
    radius = header * 0.22
    avatar_y = card_top + header * 0.34
    draw.ellipse(
        (margin, avatar_y - radius, margin + 2 * radius, avatar_y + radius), fill=theme.accent
    )
    text_x = margin + 2.6 * radius
    draw.text(
        (text_x, avatar_y - radius * 0.45),
        rng.choice(SCREEN_NAMES),
        font=load_font(header * 0.17),
        fill=dark,
        anchor="lm",
    )
    draw.text(
        (text_x, avatar_y + radius * 0.55),
        f"{rng.randint(2, 59)} min ago",
        font=load_font(header * 0.13),
        fill=grey,
        anchor="lm",
    )
    follow_w = header * 0.75
    draw.rounded_rectangle(
        (
            width - margin - follow_w,
            avatar_y - radius * 0.6,
            width - margin,
            avatar_y + radius * 0.6,
        ),
        radius=radius * 0.3,
        fill=theme.accent,
    )
    draw.text(
        (width - margin - follow_w / 2, avatar_y),
        "Follow",
        font=load_font(header * 0.12),
        fill=(255, 255, 255),
        anchor="mm",
    )
    draw.text(
        (margin, card_top + header * 0.8),
        rng.choice(SCREEN_TEXT),
        font=load_font(header * 0.14),
        fill=dark,
        anchor="lm",
    )

    canvas.paste(image.resize((shown_w, shown_h), Image.Resampling.LANCZOS), (margin, top))

    below = top + shown_h
    row = bottom * 0.3
    labels = ("Like", "Comment", "Share")
    slot = shown_w / len(labels)
    for i, label in enumerate(labels):
        x0 = margin + i * slot + slot * 0.08
        draw.rounded_rectangle(
            (x0, below + row * 0.2, x0 + slot * 0.84, below + row * 0.95),
            radius=row * 0.25,
            fill=(240, 242, 245),
        )
        draw.text(
            (x0 + slot * 0.42, below + row * 0.575),
            label,
            font=load_font(row * 0.4),
            fill=grey,
            anchor="mm",
        )
    line_y = below + row * 1.15
    line_h = (bottom - row * 1.15) / 2
    for comment in rng.sample(SCREEN_COMMENTS, 2):
        small = line_h * 0.28
        centre = line_y + line_h * 0.5
        draw.ellipse(
            (margin, centre - small, margin + 2 * small, centre + small), fill=(200, 204, 210)
        )
        draw.text(
            (margin + 3 * small, centre),
            comment,
            font=load_font(line_h * 0.38),
            fill=dark,
            anchor="lm",
        )
        line_y += line_h
    return png_bytes(canvas)
