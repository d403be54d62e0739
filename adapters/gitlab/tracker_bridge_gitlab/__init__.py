"""GitLab plugin for tracker-bridge: confidential issues through python-gitlab."""

from tracker_bridge_gitlab.tracker import GitLabSettings, GitLabTracker

__all__ = ["GitLabSettings", "GitLabTracker"]
