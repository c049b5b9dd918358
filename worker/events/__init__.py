"""Stage 5: the RabbitMQ names of the contract, their declaration, the relay of result events.

May use: settings, observe. It sits low so that intake can use its names; service runs the relay.
"""
