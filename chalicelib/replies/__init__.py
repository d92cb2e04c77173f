"""Canned replies: short answers shared by a group's agents, per language, kept by the group's supervisors."""
