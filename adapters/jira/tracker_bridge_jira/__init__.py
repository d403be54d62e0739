"""Jira plugin for tracker-bridge: confidential issues through the jira library."""

from tracker_bridge_jira.tracker import JiraSettings, JiraTracker

__all__ = ["JiraSettings", "JiraTracker"]
