"""Evidence that holds up: the sightings' hash chain and the leak's evidence bundle."""
