"""How the :class:`~ganplug.show.show.Show` holds each parameter of the table: one getter and one setter each.

The table (:mod:`ganplug.show.table`) names these by reference; a setter gets the checked
value (a tuple for variadic parameters) and runs on the render thread, between frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .spec import BadMessage

if TYPE_CHECKING:
    from .show import Show


def get_seed(show: "Show") -> int:
    return show.walker.params.seed


def set_seed(show: "Show", v: int) -> None:
    show.walker.set(restart=True, seed=v, latent=None)


def get_keyframes(show: "Show") -> list[int]:
    return list(show.walker.params.keyframes)


def set_keyframes(show: "Show", v: tuple) -> None:
    show.walker.set(restart=True, keyframes=tuple(v), latent=None)


def get_walk(show: "Show") -> str:
    return show.walker.params.mode


def set_walk(show: "Show", v: str) -> None:
    show.walker.set(mode=v, latent=None)


def get_speed(show: "Show") -> float:
    return show.walker.speed


def set_speed(show: "Show", v: float) -> None:
    show.walker.speed = v


def get_period(show: "Show") -> float:
    return show.period


def set_period(show: "Show", v: float) -> None:
    show.period = v
    show.retime()


def get_bpm(show: "Show") -> float:
    return show.bpm


def set_bpm(show: "Show", v: float) -> None:
    show.bpm = v
    clock = show.instrument.clock
    if v > 0 and abs(clock.bpm - v) > 1e-6:
        clock.set_bpm(v)
    show.retime()


def get_sync(show: "Show") -> int:
    return int(show.sync)


def set_sync(show: "Show", v: int) -> None:
    show.sync = bool(v)


def get_easing(show: "Show") -> str:
    return show.walker.params.easing


def set_easing(show: "Show", v: str) -> None:
    show.walker.set(easing=v)


def get_blend(show: "Show") -> float:
    return show.walker.blend


def set_blend(show: "Show", v: float) -> None:
    show.walker.blend = v


def get_truncation(show: "Show") -> float:
    return show.truncation


def set_truncation(show: "Show", v: float) -> None:
    show.truncation = v


def get_class(show: "Show") -> int:
    return show.class_index


def check_class(show: "Show", v: int) -> None:
    if v and not v < show.c_dim:
        raise BadMessage(f"class {v} is outside 0..{show.c_dim - 1}" if show.c_dim else
                         f"class {v}: this model is not class-conditional (class 0 only)")


def set_class(show: "Show", v: int) -> None:
    show.class_index = v


def get_pause(show: "Show") -> int:
    return int(show.walker.paused)


def set_pause(show: "Show", v: int) -> None:
    show.walker.paused = bool(v)


def get_fps(show: "Show") -> float:
    return show.fps


def set_fps(show: "Show", v: float) -> None:
    show.fps = v



def get_model(show: "Show") -> str:
    return show.models.a


def set_model(show: "Show", v: str) -> None:
    show.models.choose("a", v)


def get_model_b(show: "Show") -> str:
    return show.models.b


def set_model_b(show: "Show", v: str) -> None:
    show.models.choose("b", v)


def get_model_mix(show: "Show") -> float:
    return show.models.mix


def set_model_mix(show: "Show", v: float) -> None:
    show.models.mix = v
