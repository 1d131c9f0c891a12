"""Singer tap for ReviewRover enrollments, built on the Meltano Singer SDK."""
