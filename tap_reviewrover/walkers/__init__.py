"""Walk strategies over a ReviewRover list: one module each (see ``base``)."""
