"""Task networks split at named points: the machine side of coding for machines."""
