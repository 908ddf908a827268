"""Watch the imagers: new inspections imported and scored as they arrive, new hits announced.

Qt-free. ``WatchService`` (service.py) is the loop; ``completeness`` decides when a file an imager is
writing is finished; ``folders`` follows the folders by change events or by polling; ``events``
holds what the service reports. ``xtalviewer watch`` runs it; the app can drive the same object
from a QThread.
"""

from xtalviewer.watch.events import (
    FolderState,
    InspectionImported,
    InspectionScored,
    NewHit,
    NewHits,
    WatchCallbacks,
    WatchState,
)
from xtalviewer.watch.config import WatchConfig, config_folders
from xtalviewer.watch.service import WatchService

__all__ = ["FolderState", "InspectionImported", "InspectionScored", "NewHit", "NewHits", "WatchCallbacks",
           "WatchConfig", "WatchService", "WatchState", "config_folders"]
