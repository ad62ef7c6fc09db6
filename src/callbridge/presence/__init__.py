"""Presence: whether each extension is available, ringing, on a call or offline, for the
receptionist's view of colleagues."""
