"""The page checker: is a reported mistake still on its page?"""
