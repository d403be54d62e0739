"""Use cases of the bridge (ingest, sync, notify), written against ports and the domain only."""
