"""The caller's name for the PBX: Asterisk asks (dialplan CURL) before an inbound call rings."""
