"""Input files and what lands in input/, through the installed commands, at the sizes users have."""
