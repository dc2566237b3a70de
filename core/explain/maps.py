"""What to do with class activation maps once `core.explain.cams` has computed them: draw, and average over groups.

    picture = overlay(face, heatmap)                      # (192, 192, 3) uint8 RGB, for display
    averages = group_averages(explainer, images, groups, "gradcam")

No TensorFlow here (the maps themselves come from `core.explain.cams.Explainer`), so
pages can import this at the top and draw before any model is loaded.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# The methods core.explain.cams.Explainer offers, with the names pages show.
METHOD_LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "saliency": "Saliency"}
METHODS = tuple(METHOD_LABELS)


def overlay(face: np.ndarray, heatmap: np.ndarray, scale: int = 4, opacity: float = 0.45) -> np.ndarray:
    """Draw `heatmap` (48, 48) in [0, 1] over `face` (48, 48[, 1]) as an RGB uint8 image `scale` times larger.

    Red is where the map is high, blue where it is low (the jet colour map).
    """
    face = np.asarray(face)
    gray = face.reshape(face.shape[0], face.shape[1])
    if gray.dtype != np.uint8:
        gray = np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape != gray.shape:
        raise ValueError(f"heatmap shape {heatmap.shape} does not match face shape {gray.shape}")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must lie in [0, 1], got {opacity}")
    size = (gray.shape[1] * scale, gray.shape[0] * scale)
    face_rgb = cv2.cvtColor(cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)
    levels = np.rint(np.clip(cv2.resize(heatmap, size, interpolation=cv2.INTER_CUBIC), 0.0, 1.0) * 255).astype(np.uint8)
    colours = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(colours, opacity, face_rgb, 1.0 - opacity, 0.0)


@dataclasses.dataclass(frozen=True)
class GroupAverage:
    label: str
    count: int
    mean_face: np.ndarray  # (48, 48, 1) uint8
    mean_map: np.ndarray  # (48, 48) float32 in [0, 1], scaled to its maximum like each single map


def group_averages(explainer, images: np.ndarray, groups: dict[str, np.ndarray], method: str) -> list[GroupAverage]:
    """The mean face and mean map of each group, the maps made by one `core.explain.cams.Explainer` call.

    A face in several groups (a woman in her twenties is in 'female' and
    '20-29') is explained once.

    Args:
        explainer: a core.explain.cams.Explainer.
        images: (n, 48, 48, 1) uint8 faces indexed by row id.
        groups: label -> row ids.
    """
    row_ids = (
        np.unique(np.concatenate([np.asarray(rows, dtype=int) for rows in groups.values()])) if groups else np.array([], int)
    )
    if len(row_ids) == 0:
        return []
    maps = explainer.heatmaps(images[row_ids], method)  # (n, 48, 48)
    position = {row_id: index for index, row_id in enumerate(row_ids)}
    averages = []
    for label, rows in groups.items():
        chosen = [position[row_id] for row_id in rows]
        mean_face = np.rint(images[row_ids[chosen]].astype(np.float32).mean(axis=0)).astype(np.uint8)
        mean_map = maps[chosen].mean(axis=0)
        # Maps that disagree average out to a faint map; scaled back to 1 its pattern stays visible.
        peak = float(mean_map.max())
        averages.append(GroupAverage(label, len(chosen), mean_face, mean_map / peak if peak > 0 else mean_map))
    return averages
