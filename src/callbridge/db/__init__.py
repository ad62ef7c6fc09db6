from callbridge.db.database import Database
from callbridge.db.migrate import migrate

__all__ = ["Database", "migrate"]
